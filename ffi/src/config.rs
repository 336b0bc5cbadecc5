//! Node configuration: identity, listen addresses, timeouts, limits, versions.

use std::ffi::c_char;
use std::time::Duration;

use lp2p_core::protocols::{autonat, perf};
use lp2p_core::{Config, Keypair, Multiaddr};

use crate::args::{arg_multiaddr, arg_mut, arg_ref, arg_str, check_out, write_out};
use crate::error::{FfiError, ffi_boundary, lp2p_status};
use crate::keys::lp2p_keypair;

/// The settings of a node to start. Create it with `lp2p_config_new`, adjust
/// it, pass it to `lp2p_node_start` (which copies what it needs), free it with
/// `lp2p_config_free`. Not thread-safe: use one config from one thread at a time.
pub struct lp2p_config {
    pub(crate) keypair: Option<Keypair>,
    pub(crate) listen: Vec<Multiaddr>,
    pub(crate) swarm: Config,
    /// The bootstrap list (see `lp2p_config_add_bootstrap_addr`).
    pub(crate) bootstrap: Vec<Multiaddr>,
    /// mDNS discovery (see `lp2p_config_set_mdns`).
    pub(crate) mdns: bool,
    /// AutoNAT v2 (see `lp2p_config_set_autonat`): on when it serves or probes.
    pub(crate) autonat: autonat::Config,
    /// The perf server (see `lp2p_config_set_perf`); `None`: off.
    pub(crate) perf: Option<perf::Config>,
}

impl lp2p_config {
    /// The AutoNAT settings to start with, if AutoNAT is on.
    pub(crate) fn autonat(&self) -> Option<autonat::Config> {
        (self.autonat.server || self.autonat.client).then(|| self.autonat.clone())
    }
}

/// Creates a config with the defaults: a fresh Ed25519 identity at start, no
/// listen address, the engine's default timeouts and limits.
///
/// - `out`: borrowed, written on success with a config owned by the caller
///   (free with `lp2p_config_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_new(out: *mut *mut lp2p_config) -> lp2p_status {
    ffi_boundary!({
        check_out(out, "out")?;
        let config = lp2p_config {
            keypair: None,
            listen: Vec::new(),
            swarm: Config::default(),
            bootstrap: Vec::new(),
            mdns: false,
            autonat: autonat::Config { server: false, client: false, ..autonat::Config::default() },
            perf: None,
        };
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(config))) };
        Ok(())
    })
}

/// Frees a config. NULL does nothing. Nodes started from it are unaffected.
///
/// - `config`: owned by the caller until this call, then freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_free(config: *mut lp2p_config) {
    ffi_boundary!((), {
        if !config.is_null() {
            // SAFETY: config came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(config) });
        }
        Ok(())
    })
}

/// Sets the node's identity.
///
/// - `config`: borrowed, modified.
/// - `keypair`: borrowed during the call (copied); the caller still owns and
///   frees it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_keypair(
    config: *mut lp2p_config,
    keypair: *const lp2p_keypair,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: non-NULL pointers come from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        // SAFETY: as above.
        let keypair = unsafe { arg_ref(keypair, "keypair") }?;
        config.keypair = Some(keypair.inner.clone());
        Ok(())
    })
}

/// Adds an address to listen on at start, for example
/// `"/ip4/127.0.0.1/tcp/0"` (port 0 picks a free port). Repeatable.
///
/// - `config`: borrowed, modified.
/// - `addr`: borrowed NUL-terminated string.
///
/// Returns `LP2P_STATUS_INVALID_MULTIADDR` when `addr` does not parse.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_add_listen_addr(config: *mut lp2p_config, addr: *const c_char) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: non-NULL pointers come from this library / the caller's string.
        let config = unsafe { arg_mut(config, "config") }?;
        // SAFETY: as above.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        config.listen.push(addr);
        Ok(())
    })
}

fn millis(ms: u64, slot: &mut Duration) {
    if ms != 0 {
        *slot = Duration::from_millis(ms);
    }
}

/// Sets timeouts, in milliseconds; 0 keeps the default of that one.
///
/// - `dial_ms`: opening a transport connection.
/// - `upgrade_ms`: each step of securing and multiplexing a new connection.
/// - `stream_ms`: opening a stream and negotiating its protocol.
/// - `exchange_ms`: one protocol exchange (a ping round trip, identify).
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_timeouts(
    config: *mut lp2p_config,
    dial_ms: u64,
    upgrade_ms: u64,
    stream_ms: u64,
    exchange_ms: u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        millis(dial_ms, &mut config.swarm.dial_timeout);
        millis(upgrade_ms, &mut config.swarm.upgrade_timeout);
        millis(stream_ms, &mut config.swarm.stream_timeout);
        millis(exchange_ms, &mut config.swarm.exchange_timeout);
        Ok(())
    })
}

/// Sets connection limits; 0 keeps the default of that one.
///
/// - `max_connections`: established connections in total.
/// - `max_connections_per_peer`: established connections to one peer.
/// - `max_pending_incoming`: inbound connections still being set up.
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_limits(
    config: *mut lp2p_config,
    max_connections: usize,
    max_connections_per_peer: usize,
    max_pending_incoming: usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        if max_connections != 0 {
            config.swarm.set_max_connections(max_connections);
        }
        if max_connections_per_peer != 0 {
            config.swarm.set_max_connections_per_peer(max_connections_per_peer);
        }
        if max_pending_incoming != 0 {
            config.swarm.max_pending_incoming = max_pending_incoming;
        }
        Ok(())
    })
}

fn version_string(ptr: *const c_char, name: &str) -> Result<String, FfiError> {
    // SAFETY: the caller passes a NUL-terminated string when non-NULL.
    let s = unsafe { arg_str(ptr, name) }?;
    if s.is_empty() || s.len() > 256 {
        return Err(FfiError::new(lp2p_status::InvalidArgument, format!("`{name}` must be 1 to 256 bytes")));
    }
    Ok(s.to_string())
}

/// Turns mDNS discovery (`_p2p._udp.local`) on or off (default off). With it
/// on, the node answers mDNS queries with its listen addresses and finds the
/// peers of the local network: each arrives as an `LP2P_EVENT_KIND_DISCOVERED`
/// event, its addresses in the peer store (so it can be dialed by peer ID).
/// mDNS runs on the IPv4 interfaces the node listens on; `lp2p_node_start`
/// fails with `LP2P_STATUS_IO` if UDP port 5353 cannot be bound.
///
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_mdns(config: *mut lp2p_config, enabled: bool) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.mdns = enabled;
        Ok(())
    })
}

/// Turns the `/perf/1.0.0` server on or off (default off: the perf spec says
/// a node SHOULD NOT serve it by default, since a client makes the server
/// send as many bytes as it asks for; do not turn it on for publicly
/// reachable nodes). `lp2p_node_perf` (the client side) works either way.
///
/// - `config`: borrowed, modified.
/// - `enabled`: serve perf.
/// - `max_request_bytes`: the most bytes one request may ask the server to
///   send, and the most upload bytes it drains for one request; a request
///   over it is refused (the stream is reset). 0 keeps the default, 16 GiB.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_perf(
    config: *mut lp2p_config,
    enabled: bool,
    max_request_bytes: u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.perf = enabled.then(|| {
            let mut bounds = perf::Config::default();
            if max_request_bytes != 0 {
                bounds.max_download_bytes = max_request_bytes;
                bounds.max_upload_bytes = max_request_bytes;
            }
            bounds
        });
        Ok(())
    })
}

/// Turns AutoNAT v2 (`/libp2p/autonat/2/dial-request` and `dial-back`) on
/// or off (default off): `server` dials back the addresses other peers ask
/// about; `client` asks connected
/// AutoNAT servers to dial our own candidate addresses (the listen addresses,
/// and the addresses peers observed for us) and, once enough distinct
/// servers reached one (see `lp2p_config_set_autonat_confirmations`),
/// confirms it as an external address: an
/// `LP2P_EVENT_KIND_EXTERNAL_ADDR_CONFIRMED` event, announced to peers, and a
/// DHT in `LP2P_KAD_MODE_AUTO` turns server. Both false turns AutoNAT off.
///
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_autonat(config: *mut lp2p_config, server: bool, client: bool) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.autonat.server = server;
        config.autonat.client = client;
        Ok(())
    })
}

/// Lets AutoNAT dial (as a server) and probe (as a client) loopback and
/// private-network addresses (default false, as the spec says). For tests
/// and for networks that are all private.
///
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_autonat_allow_private(config: *mut lp2p_config, allow: bool) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.autonat.allow_private_addresses = allow;
        Ok(())
    })
}

/// How many distinct AutoNAT servers must reach an address before it is
/// confirmed (and, once confirmed, fail to before it is unconfirmed); default
/// 3. Fails with `LP2P_STATUS_INVALID_ARGUMENT` for 0.
///
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_autonat_confirmations(
    config: *mut lp2p_config,
    confirmations: u32,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        if confirmations == 0 {
            return Err(FfiError::new(lp2p_status::InvalidArgument, "`confirmations` must be at least 1"));
        }
        config.autonat.confirmations = confirmations as usize;
        Ok(())
    })
}

/// The time between AutoNAT probing rounds while some candidate address has
/// no verdict yet, in milliseconds (default 15000); the first round comes
/// this long after start. Fails with `LP2P_STATUS_INVALID_ARGUMENT` for 0.
///
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_autonat_probe_interval_ms(
    config: *mut lp2p_config,
    interval_ms: u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        if interval_ms == 0 {
            return Err(FfiError::new(lp2p_status::InvalidArgument, "`interval_ms` must be at least 1"));
        }
        config.autonat.probe_interval = Duration::from_millis(interval_ms);
        Ok(())
    })
}

/// Sets the agent version this node announces in identify (default
/// `"lp2p/<version>"`).
///
/// - `config`: borrowed, modified.
/// - `agent`: borrowed NUL-terminated UTF-8 string of 1 to 256 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_agent_version(config: *mut lp2p_config, agent: *const c_char) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.swarm.agent_version = version_string(agent, "agent")?;
        Ok(())
    })
}

/// Sets the protocol version this node announces in identify (default
/// `"ipfs/0.1.0"`).
///
/// - `config`: borrowed, modified.
/// - `version`: borrowed NUL-terminated UTF-8 string of 1 to 256 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_protocol_version(
    config: *mut lp2p_config,
    version: *const c_char,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.swarm.protocol_version = version_string(version, "version")?;
        Ok(())
    })
}
