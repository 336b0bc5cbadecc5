//! The 12-byte yamux frame header.

use super::YamuxError;

/// Header size in bytes.
pub const HEADER_LEN: usize = 12;

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// Stream data (the payload follows the header).
    Data = 0,
    /// A receive window grant; `length` is the delta.
    WindowUpdate = 1,
    /// A ping; `length` is an opaque value.
    Ping = 2,
    /// Session end; `length` is the error code.
    GoAway = 3,
}

/// Start of a stream (or a ping request).
pub const SYN: u16 = 0x1;
/// Acceptance of a stream (or a ping reply).
pub const ACK: u16 = 0x2;
/// Half-close.
pub const FIN: u16 = 0x4;
/// Abort.
pub const RST: u16 = 0x8;

/// GoAway codes.
pub const GO_AWAY_NORMAL: u32 = 0;
/// The peer broke the protocol.
pub const GO_AWAY_PROTOCOL_ERROR: u32 = 1;
/// We failed internally.
pub const GO_AWAY_INTERNAL_ERROR: u32 = 2;

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Frame type.
    pub kind: FrameType,
    /// SYN, ACK, FIN, RST bits.
    pub flags: u16,
    /// The stream (0 for session frames).
    pub stream_id: u32,
    /// Payload length, window delta, ping value or GoAway code.
    pub length: u32,
}

impl Header {
    /// Appends the 12 bytes of the header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0); // version
        out.push(self.kind as u8);
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.stream_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Decodes a header from the first 12 bytes of `bytes` (`Ok(None)` if fewer).
    pub fn decode(bytes: &[u8]) -> Result<Option<Header>, YamuxError> {
        let Some(h) = bytes.get(..HEADER_LEN) else {
            return Ok(None);
        };
        if h[0] != 0 {
            return Err(YamuxError::Protocol("unknown version"));
        }
        let kind = match h[1] {
            0 => FrameType::Data,
            1 => FrameType::WindowUpdate,
            2 => FrameType::Ping,
            3 => FrameType::GoAway,
            _ => return Err(YamuxError::Protocol("unknown frame type")),
        };
        let flags = u16::from_be_bytes([h[2], h[3]]);
        let stream_id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let length = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        Ok(Some(Header { kind, flags, stream_id, length }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let h = Header { kind: FrameType::WindowUpdate, flags: SYN | ACK, stream_id: 0x0102_0304, length: 7 };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, [0, 1, 0, 3, 1, 2, 3, 4, 0, 0, 0, 7]);
        assert_eq!(Header::decode(&out).ok().flatten(), Some(h));
    }

    #[test]
    fn truncated_bad_version_bad_type() {
        assert!(matches!(Header::decode(&[0; 11]), Ok(None)));
        assert!(Header::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Header::decode(&[0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
