//! Kademlia interop on loopback with go-libp2p-kad-dht v0.42.2 (go-libp2p
//! v0.51.0, tests/interop/go-kad) and js-libp2p's @libp2p/kad-dht 16.4.5
//! (libp2p 3.3.11, tests/interop/js-kad): lp2p DHT servers and two foreign
//! DHT servers in one network. Values put by either are got by the other,
//! providers announced by either are found by the other, find-peer works
//! both ways. Both peers speak the same line protocol on stdin/stdout.
//!
//! Ignored by `cargo test` (they need Go and Node.js and build the peers):
//! `tests/kad-go-interop.sh` builds both and runs these with `--ignored`
//! (`LP2P_GO_KAD`, `LP2P_JS_KAD` = the peers' executables).

use std::process::Stdio;
use std::time::Duration;

use lp2p::Node;
use lp2p::protocols::kad::{Config, Kad, Mode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const STEP: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// One Go DHT server, driven one command line at a time.
struct GoKad {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    addr: String,
    id: String,
}

impl GoKad {
    async fn start(bin: &str) -> GoKad {
        let mut child = Command::new(bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the Go peer starts (LP2P_GO_KAD)");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = within("go listening", lines.next_line()).await.expect("reads").expect("a line");
        let addr = first.strip_prefix("listening ").expect("listening line").to_string();
        let id = addr.rsplit("/p2p/").next().expect("/p2p/").to_string();
        GoKad { _child: child, stdin, lines, addr, id }
    }

    async fn ask(&mut self, command: &str) -> String {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("write");
        self.stdin.flush().await.expect("flush");
        within(command, self.lines.next_line()).await.expect("reads").expect("a reply")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn lp2p_server() -> (Node, Kad) {
    let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().expect("valid")).build().expect("node starts");
    let kad = node.kad(Config {
        mode: Mode::Server,
        request_timeout: Duration::from_secs(5),
        random_walk_interval: None,
        ..Config::default()
    });
    (node, kad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Go: run tests/kad-go-interop.sh"]
async fn lp2p_and_go_libp2p_share_one_dht() {
    let bin = std::env::var("LP2P_GO_KAD").expect("LP2P_GO_KAD names the Go peer (tests/kad-go-interop.sh)");
    share_one_dht(&bin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js: run tests/kad-go-interop.sh"]
async fn lp2p_and_js_libp2p_share_one_dht() {
    let bin = std::env::var("LP2P_JS_KAD").expect("LP2P_JS_KAD names the js peer (tests/kad-go-interop.sh)");
    share_one_dht(&bin).await;
}

/// lp2p servers and two servers started from `bin` in one DHT.
async fn share_one_dht(bin: &str) {
    let lp2p_nodes: Vec<(Node, Kad)> = (0..3).map(|_| lp2p_server()).collect();
    let first = lp2p_nodes[0].0.listen_addrs_with_peer_id()[0].clone();
    for (_, kad) in &lp2p_nodes[1..] {
        within("lp2p join", kad.add_bootstrap_peer(first.clone())).await.expect("joins");
    }
    let mut g1 = GoKad::start(bin).await;
    let mut g2 = GoKad::start(bin).await;
    // The lp2p nodes add the Go peers (which serve the DHT protocol), and
    // the Go peers learn the lp2p nodes from the same connections.
    within("add g1", lp2p_nodes[0].1.add_bootstrap_peer(g1.addr.parse().expect("addr"))).await.expect("g1 added");
    within("add g2", lp2p_nodes[2].1.add_bootstrap_peer(g2.addr.parse().expect("addr"))).await.expect("g2 added");
    for (_, kad) in &lp2p_nodes {
        within("lp2p bootstrap", kad.bootstrap()).await.expect("bootstraps");
    }
    assert!(g1.ask("bootstrap").await.starts_with("ok"));
    assert!(g2.ask("bootstrap").await.starts_with("ok"));

    // A value put by lp2p is got by Go.
    let (writer, writer_kad) = &lp2p_nodes[2];
    let key = [b"/pk/".as_slice(), writer.peer_id().as_bytes()].concat();
    let value = writer.keypair().public().encode_protobuf();
    within("lp2p put", writer_kad.put_value(key.clone(), value.clone())).await.expect("put");
    let got = g1.ask(&format!("get {}", hex(&key))).await;
    assert_eq!(got, format!("value {}", hex(&value)), "the foreign peer did not get lp2p's record");

    // A value put by Go is got by lp2p.
    let pk = g1.ask("pk").await;
    let parts: Vec<&str> = pk.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"pk"), "{pk}");
    let (go_key, go_value) = (unhex(parts[1]), unhex(parts[2]));
    assert_eq!(g1.ask(&format!("put {} {}", parts[1], parts[2])).await, "ok");
    let got = within("lp2p get", lp2p_nodes[1].1.get_value(go_key, 1)).await.expect("lp2p gets Go's record");
    assert_eq!(got, go_value);

    // Providers announced by lp2p are found by Go.
    let content = [[0x12u8, 0x20].as_slice(), &[7u8; 32]].concat();
    within("lp2p provide", lp2p_nodes[0].1.provide(content.clone())).await.expect("provide");
    let providers = g2.ask(&format!("providers {}", hex(&content))).await;
    assert!(providers.split_whitespace().any(|p| p == lp2p_nodes[0].0.peer_id().to_string()), "{providers}");

    // Providers announced by Go are found by lp2p.
    let content = [[0x12u8, 0x20].as_slice(), &[9u8; 32]].concat();
    assert_eq!(g2.ask(&format!("provide {}", hex(&content))).await, "ok");
    let providers = within("lp2p providers", lp2p_nodes[1].1.providers(content, 5)).await.expect("providers");
    assert!(providers.iter().any(|p| p.peer.to_string() == g2.id), "{providers:?}");

    // find-peer both ways: a newcomer lp2p node finds a Go peer...
    let newcomer = lp2p_server();
    within("newcomer join", newcomer.1.add_bootstrap_peer(first.clone())).await.expect("joins");
    let g2_peer: lp2p::PeerId = g2.id.parse().expect("peer id");
    assert!(newcomer.0.peer_info(&g2_peer).is_none());
    let found = within("lp2p find go", newcomer.1.find_peer(g2_peer)).await.expect("found");
    let g2_addr = g2.addr.rsplit_once("/p2p/").map(|(a, _)| a.to_string()).expect("addr");
    assert!(found.iter().any(|a| a.to_string() == g2_addr), "{found:?} vs {g2_addr}");
    // ...and Go finds an lp2p node.
    let target = &lp2p_nodes[1].0;
    let addrs = g1.ask(&format!("findpeer {}", target.peer_id())).await;
    assert!(addrs.split_whitespace().any(|a| a == target.listen_addrs()[0].to_string()), "{addrs}");
}
