//! Helpers the wrapper tests share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::node::{Node, NodeConfig};

/// Polls `condition` until it holds or `limit` passes; whether it held.
pub(crate) fn until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// A node listening on a loopback TCP port.
pub(crate) fn loopback_node() -> Arc<Node> {
    Node::new(NodeConfig { listen_addrs: vec!["/ip4/127.0.0.1/tcp/0".to_string()], ..NodeConfig::default() })
        .expect("node starts")
}
