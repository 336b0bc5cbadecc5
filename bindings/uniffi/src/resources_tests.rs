//! Resource limits, the allowlist and the connection manager through the
//! Kotlin/Swift wrappers, driven from Rust on loopback.

use crate::test_support::{loopback_node, until};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{ConnManagerConfig, EventListener, Lp2pError, Node, NodeConfig, NodeEvent, ResourceLimits};

/// The limit events one node saw: (scope, resource, limit, current).
#[derive(Default)]
struct Hits(Mutex<Vec<(String, String, u64, u64)>>);

impl EventListener for Hits {
    fn on_event(&self, event: NodeEvent) {
        if let NodeEvent::ResourceLimitExceeded { scope, resource, limit, current, .. } = event {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((scope, resource, limit, current));
        }
    }
}

fn listener() -> Arc<Node> {
    loopback_node()
}

#[test]
fn test_resource_limits_and_conn_manager() {
    // Bad settings are refused.
    let low_above_high = ConnManagerConfig { low: 5, high: 2, grace_period: None };
    let config = NodeConfig { conn_manager: Some(low_above_high), ..NodeConfig::default() };
    assert!(matches!(Node::new(config), Err(Lp2pError::InvalidArgument(_))));
    let config = NodeConfig { allowlist: vec!["/dns4/example.com/tcp/1".into()], ..NodeConfig::default() };
    assert!(matches!(Node::new(config), Err(Lp2pError::InvalidArgument(_))));
    let zero = ResourceLimits { max_streams: Some(0), ..ResourceLimits::default() };
    let config = NodeConfig { resource_limits: Some(zero), ..NodeConfig::default() };
    assert!(matches!(Node::new(config), Err(Lp2pError::InvalidArgument(_))));

    // One outbound connection at most: the second dial fails with LimitReached and an event.
    let client = Node::new(NodeConfig {
        resource_limits: Some(ResourceLimits { max_connections: Some(1), ..ResourceLimits::default() }),
        conn_manager: Some(ConnManagerConfig { low: 1, high: 1, grace_period: Some(Duration::from_secs(60)) }),
        allowlist: vec!["/ip4/10.0.0.0/ipcidr/8".into()],
        ..NodeConfig::default()
    })
    .expect("node starts");
    let hits = Arc::new(Hits::default());
    let _sub = client.subscribe_events(hits.clone()).expect("subscribe");
    let (a, b) = (listener(), listener());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    let peer_a = rt.block_on(client.dial(a.listen_addrs()[0].clone())).expect("the first dial fits");
    let refused = rt.block_on(client.dial(b.listen_addrs()[0].clone()));
    assert!(matches!(refused, Err(Lp2pError::LimitReached(_))), "{refused:?}");
    assert!(
        until(Duration::from_secs(10), || {
            let seen = hits.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.iter().any(|(scope, resource, limit, current)| {
                scope == "system" && resource == "conns_outbound" && *limit == 1 && *current == 1
            })
        }),
        "no limit event"
    );

    // Tags and protections.
    assert_eq!(client.tag_peer(peer_a.clone(), "useful".into(), 5), Ok(()));
    assert!(matches!(client.tag_peer(peer_a.clone(), "x".repeat(200), 5), Err(Lp2pError::InvalidArgument(_))));
    assert!(matches!(client.tag_peer("nope".into(), "useful".into(), 5), Err(Lp2pError::InvalidPeerId(_))));
    assert_eq!(client.untag_peer(peer_a.clone(), "useful".into()), Ok(()));
    assert_eq!(client.protect_peer(peer_a.clone(), "keep".into()), Ok(()));
    assert_eq!(client.protect_peer(peer_a.clone(), "also".into()), Ok(()));
    assert_eq!(client.is_protected(peer_a.clone(), Some("keep".into())), Ok(true));
    assert_eq!(client.unprotect_peer(peer_a.clone(), "keep".into()), Ok(true));
    assert_eq!(client.unprotect_peer(peer_a.clone(), "also".into()), Ok(false));
    assert_eq!(client.is_protected(peer_a, None), Ok(false));
    for node in [client, a, b] {
        rt.block_on(node.shutdown());
    }
}
