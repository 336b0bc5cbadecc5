//! The connection upgrade: raw transport stream -> multistream-select `/noise`
//! -> Noise handshake -> muxer (agreed inside Noise, else multistream-select
//! `/yamux/1.0.0`) -> a running yamux session. Every step has its own timeout.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::error::{Step, SwarmError};
use crate::identity::{Keypair, PeerId, PublicKey};
use crate::muxer::yamux;
use crate::negotiate::{self, Version};
use crate::security::noise;

/// What a finished upgrade yields.
pub struct Upgraded {
    /// The authenticated remote peer.
    pub peer: PeerId,
    /// Its public key, proven by the Noise handshake.
    pub public_key: PublicKey,
    /// Handle of the yamux session.
    pub control: yamux::Control,
    /// Streams the remote opens.
    pub incoming: yamux::Incoming,
    /// Whether the remote offered muxers inside Noise (lp2p and go-libp2p do).
    pub remote_offered_muxers: bool,
}

/// The muxers we offer, in order of preference.
pub fn muxer_protocols() -> Vec<String> {
    vec![yamux::PROTOCOL.to_string()]
}

async fn step<T, E: Into<SwarmError>>(
    step: Step,
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, SwarmError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(SwarmError::Timeout(step)),
    }
}

/// Upgrades a connection we dialed. `expected` is the peer the address named, if any.
pub async fn outbound<T>(
    io: T,
    local: &Keypair,
    expected: Option<PeerId>,
    config: &yamux::Config,
    limit: Duration,
) -> Result<Upgraded, SwarmError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // One proposal, so multistream-select is lazy: the Noise first message
    // rides along with the proposal and saves a round trip.
    let security = [noise::PROTOCOL.to_string()];
    let (_, io) =
        step(Step::SecurityNegotiation, limit, negotiate::dialer_select(io, &security, Version::V1Lazy)).await?;
    let muxers = muxer_protocols();
    let secured = step(Step::Handshake, limit, noise::upgrade_outbound(io, local, expected, &muxers)).await?;
    let (peer, public_key, remote_offered_muxers) =
        (secured.remote_peer, secured.remote_public_key, secured.remote_offered_muxers);
    let (control, incoming) = if secured.muxer.as_deref() == Some(yamux::PROTOCOL) {
        yamux::spawn(secured.stream, yamux::Mode::Client, config.clone())
    } else {
        let (_, io) =
            step(Step::MuxerNegotiation, limit, negotiate::dialer_select(secured.stream, &muxers, Version::V1Lazy))
                .await?;
        yamux::spawn(io, yamux::Mode::Client, config.clone())
    };
    Ok(Upgraded { peer, public_key, control, incoming, remote_offered_muxers })
}

/// Upgrades a connection a remote dialed to us.
pub async fn inbound<T>(io: T, local: &Keypair, config: &yamux::Config, limit: Duration) -> Result<Upgraded, SwarmError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let security = [noise::PROTOCOL.to_string()];
    let (_, io) = step(Step::SecurityNegotiation, limit, negotiate::listener_select(io, &security)).await?;
    let muxers = muxer_protocols();
    let secured = step(Step::Handshake, limit, noise::upgrade_inbound(io, local, &muxers)).await?;
    let (peer, public_key, remote_offered_muxers) =
        (secured.remote_peer, secured.remote_public_key, secured.remote_offered_muxers);
    let (control, incoming) = if secured.muxer.as_deref() == Some(yamux::PROTOCOL) {
        yamux::spawn(secured.stream, yamux::Mode::Server, config.clone())
    } else {
        let (_, io) = step(Step::MuxerNegotiation, limit, negotiate::listener_select(secured.stream, &muxers)).await?;
        yamux::spawn(io, yamux::Mode::Server, config.clone())
    };
    Ok(Upgraded { peer, public_key, control, incoming, remote_offered_muxers })
}
