//! The wrappers driven from Rust, as the foreign bindings drive them: a
//! handler implemented outside the core (here in Rust, through the same
//! trait), full-duplex stream use, errors, events. Each test awaits on its own
//! current-thread runtime, like a foreign executor, while the nodes run on the
//! shared one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{EventListener, Lp2pError, Node, NodeConfig, NodeEvent, Stream, StreamHandler};

const ECHO: &str = "/echo/1.0.0";
const LIMIT: Duration = Duration::from_secs(30);

fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    rt.block_on(async { tokio::time::timeout(LIMIT, fut).await.expect("the test finished in time") })
}

fn config(listen: bool) -> NodeConfig {
    NodeConfig {
        listen_addrs: if listen { vec!["/ip4/127.0.0.1/tcp/0".to_string()] } else { vec![] },
        keypair: None,
        agent_version: None,
        connection_timeout: None,
        stream_timeout: None,
        stream_io_timeout: None,
        mdns: false,
        autonat: None,
        ..NodeConfig::default()
    }
}

struct Echo;

#[async_trait::async_trait]
impl StreamHandler for Echo {
    async fn handle(&self, stream: Arc<Stream>) {
        loop {
            match stream.read(65536).await {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => {
                    if stream.write(chunk).await.is_err() {
                        return stream.reset();
                    }
                }
                Err(_) => return stream.reset(),
            }
        }
        let _ = stream.close().await;
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<NodeEvent>>);

impl EventListener for Recorder {
    fn on_event(&self, event: NodeEvent) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn echo_through_a_handler_full_duplex() {
    block_on(async {
        let server = Node::new(config(true)).expect("server");
        server.set_stream_handler(ECHO.to_string(), Arc::new(Echo));
        let client = Node::new(config(false)).expect("client");
        let peer = client.dial(server.listen_addrs()[0].clone()).await.expect("dial");
        assert_eq!(peer, server.peer_id());
        assert!(client.ping(peer.clone()).await.expect("ping") > Duration::ZERO);

        // More than the muxer's window: reading must go on while writing.
        let data = pattern(3 * 1024 * 1024 + 17);
        let stream = client.new_stream(peer, ECHO.to_string()).await.expect("new stream");
        let reader = {
            let stream = Arc::clone(&stream);
            let max = data.len() as u64;
            tokio::spawn(async move { stream.read_to_end(max).await })
        };
        for chunk in data.chunks(100_000) {
            stream.write(chunk.to_vec()).await.expect("write");
        }
        stream.close().await.expect("close");
        let back = reader.await.expect("reader task").expect("read_to_end");
        assert!(back == data, "the echo differs");
        client.shutdown().await;
        server.shutdown().await;
    });
}

#[test]
fn errors_are_the_typed_variants() {
    block_on(async {
        let server = Node::new(config(true)).expect("server");
        let client = Node::new(config(false)).expect("client");
        assert!(matches!(client.dial("not-a-multiaddr".to_string()).await, Err(Lp2pError::InvalidMultiaddr(_))));
        let peer = client.dial(server.listen_addrs()[0].clone()).await.expect("dial");
        let refused = client.new_stream(peer.clone(), "/nope/1.0.0".to_string()).await;
        assert!(matches!(refused, Err(Lp2pError::ProtocolNotSupported(_))));
        assert!(matches!(client.ping("nope".to_string()).await, Err(Lp2pError::InvalidPeerId(_))));
        client.shutdown().await;
        assert!(matches!(client.ping(peer).await, Err(Lp2pError::Shutdown(_))));
        server.shutdown().await;
    });
}

#[test]
fn read_to_end_refuses_more_than_asked() {
    block_on(async {
        let server = Node::new(config(true)).expect("server");
        server.set_stream_handler(ECHO.to_string(), Arc::new(Echo));
        let client = Node::new(config(false)).expect("client");
        let peer = client.dial(server.listen_addrs()[0].clone()).await.expect("dial");
        let stream = client.new_stream(peer, ECHO.to_string()).await.expect("new stream");
        stream.write(vec![7; 1000]).await.expect("write");
        stream.close().await.expect("close");
        assert!(matches!(stream.read_to_end(10).await, Err(Lp2pError::InvalidArgument(_))));
        assert!(matches!(stream.read(0).await, Err(Lp2pError::InvalidArgument(_))));
    });
}

#[test]
fn events_and_identify_reach_the_listener() {
    block_on(async {
        let mut server_config = config(true);
        server_config.agent_version = Some("uniffi-test/1".to_string());
        let server = Node::new(server_config).expect("server");
        let client = Node::new(config(false)).expect("client");
        let recorder = Arc::new(Recorder::default());
        let subscription = client.subscribe_events(recorder.clone()).expect("subscribe");
        let peer = client.dial(server.listen_addrs()[0].clone()).await.expect("dial");
        let identified = |events: &[NodeEvent]| {
            events.iter().any(|e| {
                matches!(e, NodeEvent::Identified { peer_id, agent_version, .. }
                if *peer_id == peer && agent_version == "uniffi-test/1")
            })
        };
        while !identified(&recorder.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let events = recorder.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        assert!(events.iter().any(|e| matches!(e, NodeEvent::ConnectionEstablished { outbound: true, .. })));
        assert_eq!(client.peer_info(peer.clone()).expect("peer info").agent_version.as_deref(), Some("uniffi-test/1"));
        assert!(client.is_connected(peer).expect("is_connected"));
        subscription.cancel();
    });
}

/// Waits until the server's perf counters satisfy `done`.
async fn perf_stats_until(server: &Node, done: impl Fn(&crate::node::PerfServerStats) -> bool) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while !done(&server.perf_server_stats()) {
        tick.tick().await;
    }
}

#[test]
fn test_perf_is_off_by_default() {
    block_on(async {
        let server = Node::new(config(true)).expect("server");
        let client = Node::new(config(false)).expect("client");
        let peer = client.dial(server.listen_addrs()[0].clone()).await.expect("dial");
        assert!(!server.protocols().iter().any(|p| p == "/perf/1.0.0"));
        let refused = client.perf(peer, 1000, 1000).await;
        assert!(matches!(refused, Err(Lp2pError::ProtocolNotSupported(_))), "{refused:?}");
        assert_eq!(server.perf_server_stats().served, 0);
        client.shutdown().await;
        server.shutdown().await;
    });
}

#[test]
fn test_perf_counts_bytes_both_ways() {
    block_on(async {
        let server = Node::new(NodeConfig { perf: true, perf_max_request_bytes: Some(1_000_000), ..config(true) })
            .expect("server");
        let client = Node::new(config(false)).expect("client");
        let peer = client.dial(server.listen_addrs()[0].clone()).await.expect("dial");
        assert!(server.protocols().iter().any(|p| p == "/perf/1.0.0"));
        let run = client.perf(peer.clone(), 300_000, 700_000).await.expect("perf");
        assert_eq!((run.upload_bytes, run.download_bytes), (300_000, 700_000));
        // Counted on the server's side.
        perf_stats_until(&server, |s| s.served == 1).await;
        let stats = server.perf_server_stats();
        assert_eq!((stats.bytes_received, stats.bytes_sent, stats.failed), (300_000, 700_000, 0));
        // Over the bound: refused, nothing sent.
        let refused = client.perf(peer, 0, 1_000_001).await;
        assert!(matches!(refused, Err(Lp2pError::ProtocolError(_))), "{refused:?}");
        perf_stats_until(&server, |s| s.failed == 1).await;
        assert_eq!(server.perf_server_stats().bytes_sent, 700_000);
        let bad = NodeConfig { perf: true, perf_max_request_bytes: Some(0), ..config(false) };
        assert!(matches!(Node::new(bad), Err(Lp2pError::InvalidArgument(_))));
        client.shutdown().await;
        server.shutdown().await;
    });
}
