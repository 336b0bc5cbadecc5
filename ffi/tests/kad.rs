//! The Kademlia DHT through the C ABI: three nodes on loopback, a `/pk/`
//! record put by one and got by another, a provider found, a peer found, a
//! missing record reported as not found, an invalid record refused.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;

use lp2p::*;

/// A node on loopback with a fresh key pair, returned too (for its public key).
fn start_node() -> (*mut lp2p_node, *mut lp2p_keypair) {
    let mut config = ptr::null_mut();
    let mut node = ptr::null_mut();
    let mut keypair = ptr::null_mut();
    // SAFETY: every pointer passed is valid; outputs are written on success.
    unsafe {
        assert_eq!(lp2p_keypair_generate_ed25519(&mut keypair), lp2p_status::Ok);
        assert_eq!(lp2p_config_new(&mut config), lp2p_status::Ok);
        assert_eq!(lp2p_config_set_keypair(config, keypair), lp2p_status::Ok);
        assert_eq!(lp2p_config_add_listen_addr(config, c"/ip4/127.0.0.1/tcp/0".as_ptr()), lp2p_status::Ok);
        assert_eq!(lp2p_node_start(config, &mut node), lp2p_status::Ok);
        lp2p_config_free(config);
    }
    (node, keypair)
}

fn start_kad(node: *mut lp2p_node) -> *mut lp2p_kad {
    let mut kad = ptr::null_mut();
    // SAFETY: node is live; kad is written on success.
    unsafe { assert_eq!(lp2p_kad_start(node, lp2p_kad_mode::Server as c_int, ptr::null(), &mut kad), lp2p_status::Ok) };
    kad
}

fn first_addr(node: *mut lp2p_node) -> CString {
    let mut addrs = ptr::null_mut();
    // SAFETY: node is live; the list is freed after copying its first entry.
    unsafe {
        assert_eq!(lp2p_node_listen_addrs(node, &mut addrs), lp2p_status::Ok);
        let addr = CStr::from_ptr(lp2p_string_list_get(addrs, 0)).to_owned();
        lp2p_string_list_free(addrs);
        addr
    }
}

fn peer_id_bytes(node: *mut lp2p_node) -> (CString, Vec<u8>) {
    // SAFETY: node is live; the peer ID string is borrowed from it.
    let text = unsafe { CStr::from_ptr(lp2p_node_peer_id(node)) }.to_owned();
    let id: lp2p_core::PeerId = text.to_str().expect("utf-8").parse().expect("a peer ID");
    (text, id.to_bytes())
}

#[test]
fn dht_through_the_c_abi() {
    let started: Vec<(*mut lp2p_node, *mut lp2p_keypair)> = (0..3).map(|_| start_node()).collect();
    let nodes: Vec<*mut lp2p_node> = started.iter().map(|(n, _)| *n).collect();
    let kads: Vec<*mut lp2p_kad> = nodes.iter().map(|n| start_kad(*n)).collect();
    let first = first_addr(nodes[0]);
    // SAFETY: every pointer comes from lp2p or points to live test data.
    unsafe {
        for kad in &kads[1..] {
            assert_eq!(lp2p_kad_add_bootstrap_peer(*kad, first.as_ptr()), lp2p_status::Ok);
        }
        let mut size = 0usize;
        assert_eq!(lp2p_kad_bootstrap(kads[2], &mut size), lp2p_status::Ok);
        assert!(size >= 1);

        // Node 2 stores its public key under /pk/<its id>; node 1 gets it.
        let (_, id2) = peer_id_bytes(nodes[2]);
        let key = [b"/pk/".as_slice(), &id2].concat();
        let (mut public, mut public_len) = (ptr::null_mut(), 0usize);
        assert_eq!(lp2p_keypair_public_key(started[2].1, &mut public, &mut public_len), lp2p_status::Ok);
        let value = std::slice::from_raw_parts(public, public_len).to_vec();
        let mut stored = 0usize;
        assert_eq!(
            lp2p_kad_put_value(kads[2], key.as_ptr(), key.len(), value.as_ptr(), value.len(), &mut stored),
            lp2p_status::Ok
        );
        assert!(stored >= 1);
        let (mut found, mut got, mut got_len) = (false, ptr::null_mut(), 0usize);
        assert_eq!(
            lp2p_kad_get_value(kads[1], key.as_ptr(), key.len(), 1, &mut found, &mut got, &mut got_len),
            lp2p_status::Ok
        );
        assert!(found);
        assert_eq!(std::slice::from_raw_parts(got, got_len), value.as_slice());
        lp2p_bytes_free(got, got_len);

        // A record nobody stored: found = false, not an error.
        let missing = b"/pk/\x00\x24nobody".to_vec();
        assert_eq!(
            lp2p_kad_get_value(kads[1], missing.as_ptr(), missing.len(), 1, &mut found, &mut got, &mut got_len),
            lp2p_status::Ok
        );
        assert!(!found);
        assert!(got.is_null());

        // Someone else's key under node 2's name is refused.
        let (_, id0) = peer_id_bytes(nodes[0]);
        let wrong = [b"/pk/".as_slice(), &id0].concat();
        assert_eq!(
            lp2p_kad_put_value(kads[2], wrong.as_ptr(), wrong.len(), value.as_ptr(), value.len(), ptr::null_mut()),
            lp2p_status::InvalidArgument
        );
        lp2p_bytes_free(public, public_len);

        // Node 0 provides a key; node 2 finds it.
        let content = b"\x12\x20some-content-multihash-32-bytes";
        assert_eq!(lp2p_kad_provide(kads[0], content.as_ptr(), content.len(), ptr::null_mut()), lp2p_status::Ok);
        let mut providers = ptr::null_mut();
        assert_eq!(lp2p_kad_providers(kads[2], content.as_ptr(), content.len(), 5, &mut providers), lp2p_status::Ok);
        let (id0_text, _) = peer_id_bytes(nodes[0]);
        let listed: Vec<CString> = (0..lp2p_string_list_len(providers))
            .map(|i| CStr::from_ptr(lp2p_string_list_get(providers, i)).to_owned())
            .collect();
        assert!(listed.contains(&id0_text), "{listed:?}");
        lp2p_string_list_free(providers);

        // find_peer.
        let (id1_text, _) = peer_id_bytes(nodes[1]);
        let mut addrs = ptr::null_mut();
        assert_eq!(lp2p_kad_find_peer(kads[2], id1_text.as_ptr(), &mut addrs), lp2p_status::Ok);
        assert!(lp2p_string_list_len(addrs) >= 1);
        lp2p_string_list_free(addrs);
        let bad: *const c_char = c"not a peer id".as_ptr();
        assert_eq!(lp2p_kad_find_peer(kads[2], bad, &mut addrs), lp2p_status::InvalidPeerId);

        for kad in kads {
            lp2p_kad_free(kad);
        }
        lp2p_kad_free(ptr::null_mut());
        for (node, keypair) in started {
            lp2p_node_free(node);
            lp2p_keypair_free(keypair);
        }
    }
}
