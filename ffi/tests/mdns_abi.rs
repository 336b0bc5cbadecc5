//! mDNS through the C ABI, driven from Rust the way a C program uses it: two
//! nodes on loopback with `lp2p_config_set_mdns`, each receiving an
//! `LP2P_EVENT_KIND_DISCOVERED` event for the other, then a ping by peer ID
//! (no address passed along). A node without mDNS discovers nothing.

use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lp2p::*;

fn ok(status: lp2p_status, what: &str) {
    assert_eq!(status, lp2p_status::Ok, "{what}");
}

/// What a node's event callback saw: (peer, addresses) per discovery.
type Seen = Mutex<Vec<(String, Vec<String>)>>;

unsafe extern "C" fn on_event(userdata: *mut c_void, event: *const lp2p_event) {
    // SAFETY: userdata is the `Seen` the test keeps alive past the node;
    // the event and its strings are valid during the call.
    unsafe {
        let seen = &*(userdata as *const Seen);
        let event = &*event;
        if event.kind != lp2p_event_kind::Discovered {
            return;
        }
        let peer = CStr::from_ptr(event.peer_id).to_str().expect("utf8").to_string();
        let list = event.listen_addrs;
        let addrs = (0..lp2p_string_list_len(list))
            .map(|i| CStr::from_ptr(lp2p_string_list_get(list, i)).to_str().expect("utf8").to_string())
            .collect();
        seen.lock().expect("lock").push((peer, addrs));
    }
}

fn start(mdns: bool, seen: &Seen) -> *mut lp2p_node {
    let mut config = ptr::null_mut();
    let mut node = ptr::null_mut();
    let listen = CString::new("/ip4/127.0.0.1/tcp/0").expect("cstring");
    // SAFETY: out-pointers are valid; strings are NUL-terminated; `seen`
    // outlives the node (the test frees the node first).
    unsafe {
        ok(lp2p_config_new(&mut config), "config");
        ok(lp2p_config_add_listen_addr(config, listen.as_ptr()), "listen");
        ok(lp2p_config_set_mdns(config, mdns), "mdns");
        ok(lp2p_node_start(config, &mut node), "start");
        lp2p_config_free(config);
        let userdata = seen as *const Seen as *mut c_void;
        ok(lp2p_node_set_event_callback(node, Some(on_event), userdata, None), "events");
    }
    node
}

fn peer_id(node: *const lp2p_node) -> String {
    // SAFETY: node is live; the returned string is borrowed from it.
    unsafe { CStr::from_ptr(lp2p_node_peer_id(node)) }.to_str().expect("utf8").to_string()
}

fn wait_for(seen: &Seen, peer: &str, limit: Duration) -> Option<Vec<String>> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some((_, addrs)) = seen.lock().expect("lock").iter().find(|(p, _)| p == peer) {
            return Some(addrs.clone());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn nodes_with_mdns_discover_each_other_and_dial_by_peer_id() {
    let (seen_a, seen_b, seen_c) = (Seen::default(), Seen::default(), Seen::default());
    let a = start(true, &seen_a);
    let b = start(true, &seen_b);
    let c = start(false, &seen_c);
    let (id_a, id_b) = (peer_id(a), peer_id(b));
    let found_a = wait_for(&seen_b, &id_a, Duration::from_secs(10)).expect("b discovers a");
    let found_b = wait_for(&seen_a, &id_b, Duration::from_secs(10)).expect("a discovers b");
    assert!(found_a.iter().all(|x| x.starts_with("/ip4/127.0.0.1/tcp/") && !x.contains("/p2p/")), "{found_a:?}");
    assert_eq!(found_b.len(), 1, "{found_b:?}");
    let peer = CString::new(id_a.clone()).expect("cstring");
    let mut rtt = 0u64;
    // SAFETY: b is live; the peer ID is NUL-terminated.
    ok(unsafe { lp2p_node_ping(b, peer.as_ptr(), &mut rtt) }, "ping a by peer ID");
    // c has mDNS off: it never hears of a or b.
    assert_eq!(wait_for(&seen_c, &id_a, Duration::from_millis(300)), None);
    // SAFETY: the nodes are live and freed once; no callback runs afterwards.
    unsafe {
        lp2p_node_free(a);
        lp2p_node_free(b);
        lp2p_node_free(c);
    }
}

#[test]
fn set_mdns_refuses_a_null_config() {
    // SAFETY: NULL is what is being checked.
    assert_eq!(unsafe { lp2p_config_set_mdns(ptr::null_mut(), true) }, lp2p_status::NullArgument);
}
