//! Noise (`/noise`): the libp2p handshake over `Noise_XX_25519_ChaChaPoly_SHA256`
//! and the encrypted stream after it.
//!
//! [`handshake`] is the machine without I/O; [`upgrade_outbound`] and
//! [`upgrade_inbound`] run it over a tokio byte stream (each handshake message
//! framed by a 2-byte big-endian length) and return a [`NoiseStream`].

mod crypto;
pub mod handshake;
pub mod pb;
mod stream;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use handshake::{Handshake, Remote};
pub use stream::NoiseStream;

use crate::identity::{DecodingError, Keypair, PeerId, PublicKey};

/// The protocol ID negotiated with multistream-select.
pub const PROTOCOL: &str = "/noise";

/// Why the Noise handshake or stream failed.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// The Noise protocol itself failed (bad ciphertext, bad key, ...).
    #[error("noise: {0}")]
    Noise(#[from] snow::Error),
    /// The handshake payload does not decode.
    #[error("invalid handshake payload")]
    InvalidPayload,
    /// The payload lacks the identity key or its signature.
    #[error("handshake payload has no identity")]
    MissingIdentity,
    /// The identity key does not decode.
    #[error("invalid identity key: {0}")]
    InvalidKey(#[from] DecodingError),
    /// The identity key did not sign the Noise static key.
    #[error("identity signature does not verify")]
    BadSignature,
    /// We could not sign our own static key.
    #[error("could not sign our static key")]
    Signing,
    /// The remote is not the peer we dialed.
    #[error("dialed {expected}, reached {actual}")]
    PeerIdMismatch {
        /// The peer the address named.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// Both sides listed muxers in the handshake extension and no muxer is
    /// on both lists: the inlined muxer negotiation spec says the handshake
    /// MUST fail.
    #[error("no muxer in common (we offered {local:?}, the remote {remote:?})")]
    NoCommonMuxer {
        /// The muxers we offered.
        local: Vec<String>,
        /// The muxers the remote offered.
        remote: Vec<String>,
    },
    /// A handshake message is longer than 65535 bytes.
    #[error("handshake message too long")]
    MessageTooLong,
    /// The stream failed or ended during the handshake.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A transport message did not authenticate (tampered, or out of order).
    #[error("transport message failed to decrypt")]
    Decrypt,
    /// 2^64 - 1 messages were sent or received: the nonce may not be reused.
    #[error("nonce exhausted")]
    NonceExhausted,
}

/// The result of a Noise upgrade.
pub struct NoiseOutput<T> {
    /// The encrypted stream.
    pub stream: NoiseStream<T>,
    /// The authenticated remote peer.
    pub remote_peer: PeerId,
    /// Its identity key.
    pub remote_public_key: PublicKey,
    /// The muxer agreed inside the handshake; `None` means: negotiate one
    /// with multistream-select.
    pub muxer: Option<String>,
    /// Whether the remote listed any muxer in the handshake extension.
    pub remote_offered_muxers: bool,
}

async fn send<T: AsyncWrite + Unpin>(io: &mut T, message: &[u8]) -> Result<(), NoiseError> {
    let len = u16::try_from(message.len()).map_err(|_| NoiseError::MessageTooLong)?;
    let mut frame = Vec::with_capacity(2 + message.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    io.write_all(&frame).await?;
    io.flush().await?;
    Ok(())
}

async fn receive<T: AsyncRead + Unpin>(io: &mut T) -> Result<Vec<u8>, NoiseError> {
    let mut len = [0u8; 2];
    io.read_exact(&mut len).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    io.read_exact(&mut message).await?;
    Ok(message)
}

async fn run<T>(mut io: T, mut handshake: Handshake) -> Result<NoiseOutput<T>, NoiseError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    while !handshake.is_finished() {
        if handshake.is_my_turn() {
            let message = handshake.write()?;
            send(&mut io, &message).await?;
        } else {
            let message = receive(&mut io).await?;
            handshake.read(&message)?;
        }
    }
    let (transport, remote) = handshake.finish()?;
    Ok(NoiseOutput {
        stream: NoiseStream::new(io, transport),
        remote_peer: remote.peer,
        remote_public_key: remote.public_key,
        muxer: remote.muxer,
        remote_offered_muxers: remote.offered_muxers,
    })
}

/// Runs the handshake as the dialer. `expected_remote` (from the `/p2p/` of
/// the address) must match the peer that answers.
pub async fn upgrade_outbound<T>(
    io: T,
    local: &Keypair,
    expected_remote: Option<PeerId>,
    muxers: &[String],
) -> Result<NoiseOutput<T>, NoiseError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    run(io, Handshake::initiator(local, expected_remote, muxers)?).await
}

/// Runs the handshake as the listener.
pub async fn upgrade_inbound<T>(io: T, local: &Keypair, muxers: &[String]) -> Result<NoiseOutput<T>, NoiseError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    run(io, Handshake::responder(local, muxers)?).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn pair(
        muxers_a: &[&str],
        muxers_b: &[&str],
    ) -> (NoiseOutput<tokio::io::DuplexStream>, NoiseOutput<tokio::io::DuplexStream>) {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let (x, y) = tokio::io::duplex(1 << 20);
        let ma: Vec<String> = muxers_a.iter().map(|s| s.to_string()).collect();
        let mb: Vec<String> = muxers_b.iter().map(|s| s.to_string()).collect();
        let expected = b.peer_id();
        let (out, inb) = tokio::join!(upgrade_outbound(x, &a, Some(expected), &ma), upgrade_inbound(y, &b, &mb));
        (out.expect("outbound"), inb.expect("inbound"))
    }

    #[tokio::test]
    async fn handshake_over_a_pipe_and_muxer_agreement() {
        let (a, b) = pair(&["/yamux/1.0.0"], &["/yamux/1.0.0"]).await;
        assert_eq!(a.muxer.as_deref(), Some("/yamux/1.0.0"));
        assert_eq!(b.muxer.as_deref(), Some("/yamux/1.0.0"));
        assert_ne!(a.remote_peer, b.remote_peer);
        assert_eq!(a.remote_peer, a.remote_public_key.to_peer_id());
    }

    #[tokio::test]
    async fn sixteen_mib_both_directions() {
        let (a, b) = pair(&[], &[]).await;
        let data: Vec<u8> = (0..16 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let (mut ar, mut aw) = tokio::io::split(a.stream);
        let (mut br, mut bw) = tokio::io::split(b.stream);
        let send_a = data.clone();
        let send_b = data.clone();
        let tasks = async {
            tokio::join!(
                async move {
                    aw.write_all(&send_a).await.expect("a writes");
                    aw.shutdown().await.expect("a closes");
                },
                async move {
                    bw.write_all(&send_b).await.expect("b writes");
                    bw.shutdown().await.expect("b closes");
                },
                async move {
                    let mut got = Vec::new();
                    br.read_to_end(&mut got).await.expect("b reads");
                    got
                },
                async move {
                    let mut got = Vec::new();
                    ar.read_to_end(&mut got).await.expect("a reads");
                    got
                },
            )
        };
        let (_, _, at_b, at_a) = tokio::time::timeout(Duration::from_secs(60), tasks).await.expect("no hang");
        assert!(at_b == data, "b received different bytes");
        assert!(at_a == data, "a received different bytes");
    }

    #[tokio::test]
    async fn peer_id_mismatch_and_garbage() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let (x, y) = tokio::io::duplex(65536);
        let wrong = PeerId::random();
        let (out, _) = tokio::join!(upgrade_outbound(x, &a, Some(wrong), &[]), upgrade_inbound(y, &b, &[]));
        assert!(matches!(out, Err(NoiseError::PeerIdMismatch { .. })));

        let (mut x, y) = tokio::io::duplex(65536);
        x.write_all(&[0x00, 0x20]).await.expect("write");
        x.write_all(&[0xAB; 32]).await.expect("write");
        x.write_all(&[0x00, 0x05, 1, 2, 3, 4, 5]).await.expect("write");
        drop(x);
        let result = tokio::time::timeout(Duration::from_secs(5), upgrade_inbound(y, &b, &[])).await.expect("no hang");
        assert!(result.is_err());

        let (x, y) = tokio::io::duplex(65536);
        drop(x);
        let result = tokio::time::timeout(Duration::from_secs(5), upgrade_outbound(y, &a, None, &[])).await;
        assert!(matches!(result, Ok(Err(NoiseError::Io(_)))));
    }
}
