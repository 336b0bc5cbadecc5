//! Varint-length-prefixed frames, the framing of multistream-select, identify
//! and most libp2p protobuf exchanges.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::varint::{self, VarintError};

/// Why a frame could not be read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is not a valid varint.
    #[error("invalid frame length: {0}")]
    Varint(#[from] VarintError),
    /// The announced length exceeds what the caller accepts.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The caller's limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    UnexpectedEof,
    /// The underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Sans-IO decoding: if `buf` starts with a complete frame of at most `max`
/// bytes, returns `(payload_start, payload_len)`; `None` if more bytes are needed.
pub fn decode_frame(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>, FrameError> {
    let (len, header) = match varint::decode_usize(buf) {
        Ok(v) => v,
        Err(VarintError::Incomplete) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if buf.len() - header < len {
        return Ok(None);
    }
    Ok(Some((header, len)))
}

/// Appends `payload` with its length prefix to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    varint::encode(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Reads one frame of at most `max` bytes. It reads the prefix one byte at a
/// time so that nothing past the frame is consumed from `io`.
pub async fn read_frame<R: AsyncRead + Unpin>(io: &mut R, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut prefix = [0u8; varint::MAX_LEN];
    let mut used = 0;
    let len = loop {
        if used == prefix.len() {
            return Err(VarintError::Overflow.into());
        }
        let n = io.read(&mut prefix[used..used + 1]).await?;
        if n == 0 {
            return Err(FrameError::UnexpectedEof);
        }
        used += 1;
        match varint::decode_usize(&prefix[..used]) {
            Ok((len, _)) => break len,
            Err(VarintError::Incomplete) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::UnexpectedEof,
        _ => FrameError::Io(e),
    })?;
    Ok(payload)
}

/// Writes `payload` with its length prefix in one write call, and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + varint::MAX_LEN);
    encode_frame(payload, &mut buf);
    io.write_all(&buf).await?;
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_complete_partial_and_oversized() {
        let mut buf = Vec::new();
        encode_frame(b"hello", &mut buf);
        assert_eq!(decode_frame(&buf, 100).ok().flatten(), Some((1, 5)));
        assert!(matches!(decode_frame(&buf[..3], 100), Ok(None)));
        assert!(matches!(decode_frame(&[], 100), Ok(None)));
        assert!(matches!(decode_frame(&buf, 4), Err(FrameError::TooLarge { len: 5, max: 4 })));
        assert!(matches!(decode_frame(&[0xff; 12], usize::MAX), Err(FrameError::Varint(_))));
    }

    #[tokio::test]
    async fn read_frame_stops_at_the_frame_boundary() {
        let mut buf = Vec::new();
        encode_frame(b"one", &mut buf);
        encode_frame(b"two", &mut buf);
        let mut reader = &buf[..];
        assert_eq!(read_frame(&mut reader, 10).await.ok(), Some(b"one".to_vec()));
        assert_eq!(read_frame(&mut reader, 10).await.ok(), Some(b"two".to_vec()));
        assert!(matches!(read_frame(&mut reader, 10).await, Err(FrameError::UnexpectedEof)));
    }

    #[tokio::test]
    async fn read_frame_rejects_truncated_and_oversized() {
        let mut truncated: &[u8] = &[5, b'a', b'b'];
        assert!(matches!(read_frame(&mut truncated, 10).await, Err(FrameError::UnexpectedEof)));
        let mut big: &[u8] = &[0x80, 0x80, 0x04];
        assert!(matches!(read_frame(&mut big, 1024).await, Err(FrameError::TooLarge { .. })));
        let mut endless: &[u8] = &[0xff; 32];
        assert!(matches!(read_frame(&mut endless, usize::MAX).await, Err(FrameError::Varint(_))));
    }

    #[tokio::test]
    async fn write_then_read_round_trips() {
        let mut out = Vec::new();
        write_frame(&mut out, b"payload").await.ok();
        let mut reader = &out[..];
        assert_eq!(read_frame(&mut reader, 100).await.ok(), Some(b"payload".to_vec()));
    }
}
