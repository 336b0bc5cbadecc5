//! mDNS through the Kotlin/Swift wrappers, driven from Rust: two nodes on
//! loopback with `NodeConfig.mdns` get `NodeEvent::Discovered` for each other
//! and ping by peer ID; `mdns` defaults to off.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{EventListener, Node, NodeConfig, NodeEvent};

#[derive(Default)]
struct Found(Mutex<Vec<(String, Vec<String>)>>);

impl EventListener for Found {
    fn on_event(&self, event: NodeEvent) {
        if let NodeEvent::Discovered { peer_id, addresses } = event {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((peer_id, addresses));
        }
    }
}

impl Found {
    fn addresses_of(&self, peer: &str) -> Option<Vec<String>> {
        let found = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        found.iter().find(|(p, _)| p == peer).map(|(_, a)| a.clone())
    }
}

fn config(mdns: bool) -> NodeConfig {
    NodeConfig {
        listen_addrs: vec!["/ip4/127.0.0.1/tcp/0".to_string()],
        keypair: None,
        agent_version: None,
        connection_timeout: None,
        stream_timeout: None,
        stream_io_timeout: None,
        mdns,
        autonat: None,
        ..NodeConfig::default()
    }
}

fn wait_for(found: &Found, peer: &str, limit: Duration) -> Option<Vec<String>> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(addrs) = found.addresses_of(peer) {
            return Some(addrs);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn nodes_with_mdns_discover_each_other_through_the_wrappers() {
    let a = Node::new(config(true)).expect("a starts");
    let found_by_a = Arc::new(Found::default());
    let _sub_a = a.subscribe_events(found_by_a.clone()).expect("subscribe a");
    let b = Node::new(config(true)).expect("b starts");
    let found_by_b = Arc::new(Found::default());
    let _sub_b = b.subscribe_events(found_by_b.clone()).expect("subscribe b");
    let c = Node::new(config(false)).expect("c starts");
    let found_by_c = Arc::new(Found::default());
    let _sub_c = c.subscribe_events(found_by_c.clone()).expect("subscribe c");

    let addrs = wait_for(&found_by_b, &a.peer_id(), Duration::from_secs(10)).expect("b discovers a");
    assert!(addrs.iter().all(|x| x.starts_with("/ip4/127.0.0.1/tcp/")), "{addrs:?}");
    assert!(wait_for(&found_by_a, &b.peer_id(), Duration::from_secs(10)).is_some(), "a discovers b");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let rtt = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), b.ping(a.peer_id())).await });
    assert!(matches!(rtt, Ok(Ok(_))), "b pings a by peer ID: {rtt:?}");
    assert_eq!(wait_for(&found_by_c, &a.peer_id(), Duration::from_millis(300)), None, "c has mDNS off");
}
