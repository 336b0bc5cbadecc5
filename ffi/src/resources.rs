//! Resource limits, the allowlist, the connection manager's watermarks, and
//! the node's tags and protections (go-libp2p's `ConnManager` interface).

use std::ffi::c_char;
use std::time::Duration;

use lp2p_core::connmgr::TagError;
use lp2p_core::rcmgr::AllowlistEntry;

use crate::args::{arg_multiaddr, arg_mut, arg_peer_id, arg_ref, arg_str, write_opt};
use crate::config::lp2p_config;
use crate::error::{FfiError, ffi_boundary, lp2p_status};
use crate::node::lp2p_node;

/// Sets resource limits (the resource manager's); 0 keeps the default of
/// that one (scaled from the machine's memory and descriptor limit).
///
/// - `config`: borrowed, modified.
/// - `max_connections`: connections in total, set up or being set up.
/// - `max_connections_per_peer`: connections to one peer.
/// - `max_connections_per_ip`: connections from one IPv4 address (one IPv6
///   /56); loopback addresses are exempt.
/// - `max_streams`: streams in total.
/// - `max_streams_per_peer`: streams with one peer.
/// - `max_memory`: bytes that connections and streams may reserve in total.
///
/// Over a limit, a connection is closed, a stream reset, a dial or
/// `lp2p_node_new_stream` fails with `LP2P_STATUS_LIMIT_REACHED`, and an
/// `LP2P_EVENT_KIND_RESOURCE_LIMIT_EXCEEDED` event says which limit.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_resource_limits(
    config: *mut lp2p_config,
    max_connections: u64,
    max_connections_per_peer: u64,
    max_connections_per_ip: u64,
    max_streams: u64,
    max_streams_per_peer: u64,
    max_memory: u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        let limits = &mut config.swarm.resource_manager;
        if max_connections != 0 {
            limits.set_max_connections(max_connections);
        }
        if max_connections_per_peer != 0 {
            limits.set_max_connections_per_peer(max_connections_per_peer);
        }
        if max_connections_per_ip != 0 {
            limits.set_max_connections_per_ip(max_connections_per_ip);
        }
        if max_streams != 0 {
            limits.set_max_streams(max_streams);
        }
        if max_streams_per_peer != 0 {
            limits.set_max_streams_per_peer(max_streams_per_peer);
        }
        if max_memory != 0 {
            limits.system.memory = max_memory;
        }
        Ok(())
    })
}

/// Sets the connection manager: above `high` connections, the least
/// valuable ones (lowest tag sum, never protected, never younger than
/// `grace_ms`) are closed until `low` are left. `high` 0 turns trimming off.
///
/// - `config`: borrowed, modified.
///
/// Returns `LP2P_STATUS_INVALID_ARGUMENT` when `low > high` (with `high` not 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_set_conn_manager(
    config: *mut lp2p_config,
    low: u32,
    high: u32,
    grace_ms: u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        if high != 0 && low > high {
            return Err(FfiError::new(
                lp2p_status::InvalidArgument,
                format!("low watermark {low} is above the high watermark {high}"),
            ));
        }
        let manager = &mut config.swarm.conn_manager;
        manager.low_watermark = low as usize;
        manager.high_watermark = high as usize;
        manager.grace_period = Duration::from_millis(grace_ms);
        Ok(())
    })
}

/// Allowlists a network: its connections skip the system, transient and
/// per-IP limits. `addr` is `/ip4/<addr>[/ipcidr/<bits>]` or the IPv6 form,
/// optionally ending in `/p2p/<peer>` (then only that peer is allowlisted).
/// Repeatable.
///
/// - `config`: borrowed, modified.
/// - `addr`: borrowed NUL-terminated multiaddr.
///
/// Returns `LP2P_STATUS_INVALID_MULTIADDR` when `addr` does not parse,
/// `LP2P_STATUS_INVALID_ARGUMENT` when it is not a network.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_allow(config: *mut lp2p_config, addr: *const c_char) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        let entry = AllowlistEntry::from_multiaddr(&addr)
            .map_err(|e| FfiError::new(lp2p_status::InvalidArgument, format!("allowlist entry {addr}: {e}")))?;
        config.swarm.resource_manager.allowlist.push(entry);
        Ok(())
    })
}

fn tag_error(e: TagError) -> FfiError {
    let status = match e {
        TagError::TagTooLong { .. } => lp2p_status::InvalidArgument,
        TagError::TooManyTags { .. } | TagError::TooManyPeers { .. } => lp2p_status::LimitReached,
    };
    FfiError::new(status, e.to_string())
}

/// Sets `peer`'s tag `tag` to `value`: over the high watermark, the
/// connections of peers with the lowest tag sum are closed first. Tags are
/// forgotten when the peer's last connection closes. Not blocking.
///
/// - `node`: borrowed.
/// - `peer`, `tag`: borrowed NUL-terminated strings.
///
/// Returns `LP2P_STATUS_INVALID_ARGUMENT` for a tag over 128 bytes,
/// `LP2P_STATUS_LIMIT_REACHED` when the peer has too many tags.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_tag_peer(
    node: *const lp2p_node,
    peer: *const c_char,
    tag: *const c_char,
    value: i64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        node.node()?.tag_peer(peer, tag, value).map_err(tag_error)
    })
}

/// Removes `peer`'s tag `tag` (nothing if it has none). Not blocking.
///
/// - `node`: borrowed.
/// - `peer`, `tag`: borrowed NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_untag_peer(
    node: *const lp2p_node,
    peer: *const c_char,
    tag: *const c_char,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        node.node()?.untag_peer(peer, tag);
        Ok(())
    })
}

/// Protects `peer`'s connections from the connection manager under `tag`
/// (several tags may protect one peer). Not blocking.
///
/// - `node`: borrowed.
/// - `peer`, `tag`: borrowed NUL-terminated strings.
///
/// Returns `LP2P_STATUS_INVALID_ARGUMENT` for a tag over 128 bytes,
/// `LP2P_STATUS_LIMIT_REACHED` when the peer has too many protections.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_protect_peer(
    node: *const lp2p_node,
    peer: *const c_char,
    tag: *const c_char,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        node.node()?.protect_peer(peer, tag).map_err(tag_error)
    })
}

/// Removes the protection `tag` from `peer`. Not blocking.
///
/// - `node`: borrowed.
/// - `peer`, `tag`: borrowed NUL-terminated strings.
/// - `out_still_protected`: may be NULL; written on success with whether
///   another tag still protects the peer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_unprotect_peer(
    node: *const lp2p_node,
    peer: *const c_char,
    tag: *const c_char,
    out_still_protected: *mut bool,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        let still = node.node()?.unprotect_peer(peer, tag);
        // SAFETY: written only when non-NULL.
        unsafe { write_opt(out_still_protected, still) };
        Ok(())
    })
}
