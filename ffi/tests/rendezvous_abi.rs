//! Rendezvous and the bootstrap list through the C ABI, driven from Rust the
//! way a C program uses it: a point and two clients on loopback; register,
//! discover (with a cookie), unregister, a typed refusal; a node that
//! bootstraps from its configured list.

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use lp2p::*;

fn ok(status: lp2p_status, what: &str) {
    assert_eq!(status, lp2p_status::Ok, "{what}");
}

fn start() -> *mut lp2p_node {
    let mut config = ptr::null_mut();
    let mut node = ptr::null_mut();
    let listen = CString::new("/ip4/127.0.0.1/tcp/0").expect("cstring");
    // SAFETY: out-pointers are valid; strings are NUL-terminated.
    unsafe {
        ok(lp2p_config_new(&mut config), "config");
        ok(lp2p_config_add_listen_addr(config, listen.as_ptr()), "listen");
        ok(lp2p_node_start(config, &mut node), "start");
        lp2p_config_free(config);
    }
    node
}

fn peer_id(node: *const lp2p_node) -> CString {
    // SAFETY: node is live; the returned string is borrowed from it.
    unsafe { CStr::from_ptr(lp2p_node_peer_id(node)) }.to_owned()
}

fn dial_addr(node: *const lp2p_node) -> CString {
    let mut list = ptr::null_mut();
    // SAFETY: node is live; list is freed below.
    unsafe {
        ok(lp2p_node_listen_addrs(node, &mut list), "listen addrs");
        // Already ends in /p2p/<id>.
        let first = CStr::from_ptr(lp2p_string_list_get(list, 0)).to_owned();
        lp2p_string_list_free(list);
        first
    }
}

fn connect(from: *const lp2p_node, to: *const lp2p_node) {
    // SAFETY: both nodes are live; the address is NUL-terminated.
    ok(unsafe { lp2p_node_dial(from, dial_addr(to).as_ptr(), ptr::null_mut()) }, "dial");
}

unsafe fn text(ptr: *const c_char) -> String {
    assert!(!ptr.is_null());
    // SAFETY: a non-NULL string from the library, borrowed.
    unsafe { CStr::from_ptr(ptr) }.to_str().expect("utf8").to_string()
}

#[test]
fn register_discover_and_unregister_through_the_c_abi() {
    let (point, a, c) = (start(), start(), start());
    // SAFETY: every pointer below is live until freed at the end.
    unsafe {
        ok(lp2p_node_serve_rendezvous(point), "serve");
        connect(a, point);
        connect(c, point);
        let p = peer_id(point);
        let ns = CString::new("c-app").expect("cstring");

        let mut granted = 0u64;
        ok(lp2p_node_rendezvous_register(a, p.as_ptr(), ns.as_ptr(), 0, &mut granted), "register");
        assert_eq!(granted, 7200);
        // Below the point's minimum TTL: a protocol error naming the status.
        let refused = lp2p_node_rendezvous_register(a, p.as_ptr(), ns.as_ptr(), 60, ptr::null_mut());
        assert_eq!(refused, lp2p_status::ProtocolError);
        let mut buf = vec![0 as c_char; 512];
        let mut len = 0usize;
        ok(lp2p_last_error_message(buf.as_mut_ptr(), buf.len(), &mut len), "message");
        assert!(text(buf.as_ptr()).contains("E_INVALID_TTL"));

        let mut result = ptr::null_mut();
        ok(lp2p_node_rendezvous_discover(c, p.as_ptr(), ns.as_ptr(), 0, ptr::null(), 0, &mut result), "discover");
        assert_eq!(lp2p_rendezvous_result_len(result), 1);
        assert_eq!(text(lp2p_rendezvous_result_peer_id(result, 0)), peer_id(a).to_str().expect("utf8"));
        assert_eq!(text(lp2p_rendezvous_result_namespace(result, 0)), "c-app");
        assert!(lp2p_rendezvous_result_ttl_secs(result, 0) > 7000);
        let addrs = lp2p_rendezvous_result_addrs(result, 0);
        assert_eq!(lp2p_string_list_len(addrs), 1);
        assert!(text(lp2p_string_list_get(addrs, 0)).starts_with("/ip4/127.0.0.1/tcp/"));
        assert!(lp2p_rendezvous_result_peer_id(result, 1).is_null());
        let (mut cookie, mut cookie_len) = (ptr::null_mut(), 0usize);
        ok(lp2p_rendezvous_result_cookie(result, &mut cookie, &mut cookie_len), "cookie");
        assert!(cookie_len >= 8);
        lp2p_rendezvous_result_free(result);

        // With the cookie: nothing new.
        let mut again = ptr::null_mut();
        ok(lp2p_node_rendezvous_discover(c, p.as_ptr(), ns.as_ptr(), 0, cookie, cookie_len, &mut again), "poll");
        assert_eq!(lp2p_rendezvous_result_len(again), 0);
        lp2p_rendezvous_result_free(again);
        lp2p_bytes_free(cookie, cookie_len);

        ok(lp2p_node_rendezvous_unregister(a, p.as_ptr(), ns.as_ptr()), "unregister");
        // Unregister has no answer; poll until the point has handled it.
        let mut gone = false;
        for _ in 0..100 {
            let mut all = ptr::null_mut();
            ok(lp2p_node_rendezvous_discover(c, p.as_ptr(), ptr::null(), 0, ptr::null(), 0, &mut all), "discover all");
            gone = lp2p_rendezvous_result_len(all) == 0;
            lp2p_rendezvous_result_free(all);
            if gone {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gone, "a is still registered");
        // Bad arguments are typed.
        let long = CString::new("n".repeat(256)).expect("cstring");
        assert_eq!(
            lp2p_node_rendezvous_register(a, p.as_ptr(), long.as_ptr(), 0, ptr::null_mut()),
            lp2p_status::ProtocolError
        );
        assert_eq!(
            lp2p_node_rendezvous_register(a, ptr::null(), ns.as_ptr(), 0, ptr::null_mut()),
            lp2p_status::NullArgument
        );
        lp2p_rendezvous_result_free(ptr::null_mut());
        for node in [point, a, c] {
            lp2p_node_free(node);
        }
    }
}

#[test]
fn bootstrap_through_the_c_abi() {
    let a = start();
    let mut config = ptr::null_mut();
    let mut b = ptr::null_mut();
    // SAFETY: every pointer below is live until freed at the end.
    unsafe {
        ok(lp2p_config_new(&mut config), "config");
        assert_eq!(lp2p_config_add_bootstrap_addr(config, c"not an address".as_ptr()), lp2p_status::InvalidMultiaddr);
        ok(lp2p_config_add_bootstrap_addr(config, dial_addr(a).as_ptr()), "bootstrap addr");
        ok(lp2p_node_start(config, &mut b), "start");
        lp2p_config_free(config);
        let mut peers = ptr::null_mut();
        ok(lp2p_node_bootstrap(b, &mut peers), "bootstrap");
        assert_eq!(lp2p_string_list_len(peers), 1);
        assert_eq!(text(lp2p_string_list_get(peers, 0)), peer_id(a).to_str().expect("utf8"));
        lp2p_string_list_free(peers);
        // A node with no bootstrap list.
        assert_eq!(lp2p_node_bootstrap(a, ptr::null_mut()), lp2p_status::NoRoute);
        lp2p_node_free(b);
        lp2p_node_free(a);
    }
}
