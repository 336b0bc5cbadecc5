//! Resource limits, the allowlist and the connection manager in a node's
//! config, and the node's tags and protections (go-libp2p's `ConnManager`).

use std::time::Duration;

use crate::error::{Lp2pError, parse_multiaddr, parse_peer_id};
use crate::node::Node;

/// Resource limits; each absent one keeps the default (scaled from the
/// machine's memory and descriptor limit). Over a limit a connection is
/// closed, a stream reset, a dial or `newStream` fails with `LimitReached`,
/// and a `NodeEvent.ResourceLimitExceeded` says which.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ResourceLimits {
    /// Connections in total, set up or being set up.
    #[uniffi(default)]
    pub max_connections: Option<u64>,
    /// Connections to one peer.
    #[uniffi(default)]
    pub max_connections_per_peer: Option<u64>,
    /// Connections from one IPv4 address (one IPv6 /56); loopback is exempt.
    #[uniffi(default)]
    pub max_connections_per_ip: Option<u64>,
    /// Streams in total.
    #[uniffi(default)]
    pub max_streams: Option<u64>,
    /// Streams with one peer.
    #[uniffi(default)]
    pub max_streams_per_peer: Option<u64>,
    /// Bytes connections and streams may reserve in total.
    #[uniffi(default)]
    pub max_memory: Option<u64>,
}

/// The connection manager: above `high` connections, the least valuable
/// (lowest sum of `tagPeer` values, never protected, never younger than
/// `grace_period`) are closed until `low` are left. `high` 0 turns it off.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConnManagerConfig {
    /// Connections left after a trim.
    #[uniffi(default = 160)]
    pub low: u32,
    /// Connections above which a trim runs.
    #[uniffi(default = 192)]
    pub high: u32,
    /// Connections younger than this are never closed (default 60 s).
    #[uniffi(default)]
    pub grace_period: Option<Duration>,
}

/// The resource manager's limits: the defaults with `limits` and `allowlist` applied.
pub(crate) fn resource_config(
    limits: Option<&ResourceLimits>,
    allowlist: &[String],
) -> Result<lp2p::rcmgr::ResourceManagerConfig, Lp2pError> {
    let mut config = lp2p::rcmgr::ResourceManagerConfig::default();
    let limits = limits.cloned().unwrap_or_default();
    let positive = |value: Option<u64>, what: &str| match value {
        Some(0) => Err(Lp2pError::InvalidArgument(format!("{what} must be at least 1"))),
        other => Ok(other),
    };
    if let Some(n) = positive(limits.max_connections, "max_connections")? {
        config.set_max_connections(n);
    }
    if let Some(n) = positive(limits.max_connections_per_peer, "max_connections_per_peer")? {
        config.set_max_connections_per_peer(n);
    }
    if let Some(n) = positive(limits.max_connections_per_ip, "max_connections_per_ip")? {
        config.set_max_connections_per_ip(n);
    }
    if let Some(n) = positive(limits.max_streams, "max_streams")? {
        config.set_max_streams(n);
    }
    if let Some(n) = positive(limits.max_streams_per_peer, "max_streams_per_peer")? {
        config.set_max_streams_per_peer(n);
    }
    if let Some(n) = positive(limits.max_memory, "max_memory")? {
        config.system.memory = n;
    }
    for entry in allowlist {
        let addr = parse_multiaddr(entry)?;
        config.allow(&addr).map_err(|e| Lp2pError::InvalidArgument(format!("allowlist entry {entry}: {e}")))?;
    }
    Ok(config)
}

impl ConnManagerConfig {
    pub(crate) fn to_core(&self) -> Result<lp2p::connmgr::ConnManagerConfig, Lp2pError> {
        if self.high != 0 && self.low > self.high {
            return Err(Lp2pError::InvalidArgument(format!(
                "conn manager low {} is above high {}",
                self.low, self.high
            )));
        }
        let defaults = lp2p::connmgr::ConnManagerConfig::default();
        Ok(lp2p::connmgr::ConnManagerConfig {
            low_watermark: self.low as usize,
            high_watermark: self.high as usize,
            grace_period: self.grace_period.unwrap_or(defaults.grace_period),
            ..defaults
        })
    }
}

fn tag_error(e: lp2p::connmgr::TagError) -> Lp2pError {
    match e {
        lp2p::connmgr::TagError::TagTooLong { .. } => Lp2pError::InvalidArgument(e.to_string()),
        _ => Lp2pError::LimitReached(e.to_string()),
    }
}

#[uniffi::export]
impl Node {
    /// Sets `peer_id`'s tag `tag` to `value`: over the high watermark, the
    /// connection manager closes the connections of peers with the lowest
    /// sum of tags first. Tags are forgotten when the peer's last connection closes.
    pub fn tag_peer(&self, peer_id: String, tag: String, value: i64) -> Result<(), Lp2pError> {
        self.inner.tag_peer(parse_peer_id(&peer_id)?, &tag, value).map_err(tag_error)
    }

    /// Removes `peer_id`'s tag `tag`.
    pub fn untag_peer(&self, peer_id: String, tag: String) -> Result<(), Lp2pError> {
        self.inner.untag_peer(parse_peer_id(&peer_id)?, &tag);
        Ok(())
    }

    /// Keeps the connection manager from closing `peer_id`'s connections
    /// while protected under `tag`.
    pub fn protect_peer(&self, peer_id: String, tag: String) -> Result<(), Lp2pError> {
        self.inner.protect_peer(parse_peer_id(&peer_id)?, &tag).map_err(tag_error)
    }

    /// Removes protection `tag` from `peer_id`; returns whether another tag
    /// still protects it.
    pub fn unprotect_peer(&self, peer_id: String, tag: String) -> Result<bool, Lp2pError> {
        Ok(self.inner.unprotect_peer(parse_peer_id(&peer_id)?, &tag))
    }

    /// Whether `peer_id` is protected under `tag` (under any tag if absent).
    pub fn is_protected(&self, peer_id: String, tag: Option<String>) -> Result<bool, Lp2pError> {
        Ok(self.inner.is_protected(parse_peer_id(&peer_id)?, tag.as_deref()))
    }
}
