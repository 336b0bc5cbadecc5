//! External addresses, the DHT's automatic mode and AutoNAT through the
//! Kotlin/Swift wrappers, driven from Rust on loopback (three AutoNAT servers
//! confirm a fourth node's listen address).

use crate::test_support::{loopback_node, until};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{AutonatConfig, EventListener, KadMode, Lp2pError, Node, NodeConfig, NodeEvent};

/// The external address events one node saw: (confirmed?, address).
#[derive(Default)]
struct Seen(Mutex<Vec<(bool, String)>>);

impl EventListener for Seen {
    fn on_event(&self, event: NodeEvent) {
        let entry = match event {
            NodeEvent::ExternalAddrConfirmed { address } => (true, address),
            NodeEvent::ExternalAddrExpired { address } => (false, address),
            _ => return,
        };
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(entry);
    }
}

impl Seen {
    fn has(&self, confirmed: bool, address: &str) -> bool {
        let seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.iter().any(|(c, a)| *c == confirmed && a == address)
    }
}

fn node() -> Arc<Node> {
    loopback_node()
}

#[test]
fn external_addresses_add_list_remove() {
    let node = node();
    let seen = Arc::new(Seen::default());
    let _sub = node.subscribe_events(seen.clone()).expect("subscribe");
    assert!(node.external_addrs().is_empty());
    assert_eq!(node.add_external_address("/ip4/203.0.113.7/tcp/4001".into()), Ok(true));
    assert_eq!(node.add_external_address("/ip4/203.0.113.7/tcp/4001".into()), Ok(false));
    let with_id = format!("/ip4/203.0.113.8/tcp/4001/p2p/{}", node.peer_id());
    assert_eq!(node.add_external_address(with_id), Ok(true));
    let mut listed = node.external_addrs();
    listed.sort();
    assert_eq!(listed, ["/ip4/203.0.113.7/tcp/4001", "/ip4/203.0.113.8/tcp/4001"]);
    assert!(until(Duration::from_secs(5), || seen.has(true, "/ip4/203.0.113.8/tcp/4001")));

    assert_eq!(node.remove_external_address("/ip4/203.0.113.7/tcp/4001".into()), Ok(true));
    assert_eq!(node.remove_external_address("/ip4/203.0.113.7/tcp/4001".into()), Ok(false));
    assert_eq!(node.external_addrs(), ["/ip4/203.0.113.8/tcp/4001"]);
    assert!(until(Duration::from_secs(5), || seen.has(false, "/ip4/203.0.113.7/tcp/4001")));

    assert!(matches!(node.add_external_address("nope".into()), Err(Lp2pError::InvalidMultiaddr(_))));
    assert!(matches!(node.remove_external_address("/ip4/x".into()), Err(Lp2pError::InvalidMultiaddr(_))));
}

#[test]
fn auto_dht_serves_with_an_external_address() {
    let node = node();
    let kad = node.kad(KadMode::Auto, None);
    assert_eq!(kad.mode(), KadMode::Auto);
    assert!(!kad.is_server());
    assert!(!node.protocols().contains(&"/ipfs/kad/1.0.0".to_string()));
    node.add_external_address("/ip4/203.0.113.9/tcp/4001".into()).expect("added");
    assert!(until(Duration::from_secs(5), || kad.is_server()), "turns server");
    assert!(node.protocols().contains(&"/ipfs/kad/1.0.0".to_string()));
    node.remove_external_address("/ip4/203.0.113.9/tcp/4001".into()).expect("removed");
    assert!(until(Duration::from_secs(5), || !kad.is_server()), "turns client again");

    let other = self::node();
    let server = other.kad(KadMode::Server, Some("/lp2p-test/kad/1.0.0".into()));
    assert!(server.is_server() && server.mode() == KadMode::Server);
    let client = other.kad(KadMode::Client, None);
    assert!(!client.is_server() && client.mode() == KadMode::Client);
}

fn autonat_node(server: bool, client: bool) -> Arc<Node> {
    let autonat = AutonatConfig {
        server,
        client,
        allow_private_addresses: true,
        confirmations: 3,
        probe_interval: Some(Duration::from_millis(200)),
    };
    Node::new(NodeConfig {
        listen_addrs: vec!["/ip4/127.0.0.1/tcp/0".to_string()],
        autonat: Some(autonat),
        ..NodeConfig::default()
    })
    .expect("node starts")
}

#[test]
fn autonat_servers_confirm_a_listen_address() {
    let servers: Vec<Arc<Node>> = (0..3).map(|_| autonat_node(true, false)).collect();
    let node = autonat_node(false, true);
    let seen = Arc::new(Seen::default());
    let _sub = node.subscribe_events(seen.clone()).expect("subscribe");
    let kad = node.kad(KadMode::Auto, None);
    assert!(!kad.is_server());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for server in &servers {
        rt.block_on(node.dial(server.listen_addrs()[0].clone())).expect("dials a server");
    }
    let listen = node.listen_addrs()[0].clone();
    let expected = listen.split("/p2p/").next().unwrap_or_default().to_string();
    assert!(until(Duration::from_secs(30), || seen.has(true, &expected)), "confirmed {expected}");
    assert!(node.external_addrs().contains(&expected));
    assert!(until(Duration::from_secs(5), || kad.is_server()), "the AUTO DHT serves");
}

#[test]
fn autonat_config_is_checked() {
    let bad = AutonatConfig { confirmations: 0, ..AutonatConfig::default() };
    let config = NodeConfig { autonat: Some(bad), ..NodeConfig::default() };
    assert!(matches!(Node::new(config), Err(Lp2pError::InvalidArgument(_))));
    let bad = AutonatConfig { probe_interval: Some(Duration::ZERO), ..AutonatConfig::default() };
    let config = NodeConfig { autonat: Some(bad), ..NodeConfig::default() };
    assert!(matches!(Node::new(config), Err(Lp2pError::InvalidArgument(_))));
}
