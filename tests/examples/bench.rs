//! `make bench`: lp2p and rust-libp2p measured side by side in one run, on
//! loopback, with the machine's limits beside them. Prints a table and
//! writes `bench.json`. Not a test: nothing here asserts a time.
//!
//!   bench [--quick] [--only SECTION,...]
//!     --quick   64 MiB transfers, 3 runs, 200 dials (default: 1 GiB, 5 runs, 1,000 dials)
//!     --only    some of: limits, perf, streams, dials, memory, load (default: all)
//!   bench --serve KIND   (internal) a listener in a child process: lp2p or
//!                        rust (perf, streams, idle memory), limit-plain or
//!                        limit-sealed (the receiving end of the limits)

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RustPeer;
use lp2p::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GIB: u64 = 1 << 30;
const FRAME: usize = 64 * 1024;

struct Plan {
    bytes: u64,
    runs: usize,
    dials: usize,
    /// How long the concurrent dialers run.
    dial_window: Duration,
    /// Idle connections held open for the memory run.
    idle_connections: usize,
}

/// Concurrent dialers in the dial-rate run.
const DIALERS: usize = 64;
/// Streams opened at once on one connection, each uploading `MANY_STREAM_BYTES`.
const MANY_STREAMS: usize = 1000;
const MANY_STREAM_BYTES: u64 = 1 << 20;

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Resident memory of a process (`self` or a pid), in bytes.
fn rss_bytes(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn gbits(bytes: u64, time: Duration) -> f64 {
    bytes as f64 * 8.0 / time.as_secs_f64() / 1e9
}

/// Median, min and max.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let median = if v.is_empty() { f64::NAN } else { v[v.len() / 2] };
    (median, v.first().copied().unwrap_or(f64::NAN), v.last().copied().unwrap_or(f64::NAN))
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

/// One row of the table.
struct Row {
    name: String,
    unit: &'static str,
    values: Vec<f64>,
    /// Lower is better (times, memory) or higher (throughput).
    lower_is_better: bool,
}

// ---- the limits ----

fn limit_key() -> ring::aead::LessSafeKey {
    use ring::aead::{CHACHA20_POLY1305, LessSafeKey, UnboundKey};
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("key"))
}

fn limit_nonce(i: u64) -> ring::aead::Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&i.to_le_bytes());
    ring::aead::Nonce::assume_unique_for_key(nonce)
}

/// The receiving end of the limit, in a child process as perf's servers
/// are: reads the frame count, then the frames (opening each when `encrypt`),
/// and answers one byte when all have arrived.
async fn serve_limit(encrypt: bool) -> Box<dyn std::any::Any> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut rx, _)) = listener.accept().await {
            let _ = rx.set_nodelay(true);
            let key = limit_key();
            let frames = rx.read_u64().await.expect("frame count");
            let mut buf = vec![0u8; if encrypt { FRAME + 16 } else { FRAME }];
            for i in 0..frames {
                rx.read_exact(&mut buf).await.expect("read");
                if encrypt {
                    key.open_in_place(limit_nonce(i), ring::aead::Aad::empty(), &mut buf).expect("open");
                }
            }
            rx.write_all(&[1]).await.expect("answer");
        }
    });
    Box::new(())
}

/// Plain TCP, or every 64 KiB frame sealed and opened with ChaCha20-Poly1305,
/// from this process to `server` (`--serve limit-plain|limit-sealed`):
/// Gbit/s, and CPU-seconds per GiB of both ends.
async fn limit(server: &Server, bytes: u64, encrypt: bool) -> (f64, f64) {
    let cpu = cpu_time() + server.cpu_time();
    let mut tx = tokio::net::TcpStream::connect(server.addr.as_str()).await.expect("connect");
    tx.set_nodelay(true).expect("nodelay");
    let key = limit_key();
    let frames = bytes / FRAME as u64;
    let mut buf = vec![0u8; FRAME];
    let started = Instant::now();
    tx.write_u64(frames).await.expect("frame count");
    for i in 0..frames {
        if encrypt {
            buf.truncate(FRAME);
            key.seal_in_place_append_tag(limit_nonce(i), ring::aead::Aad::empty(), &mut buf).expect("seal");
        }
        tx.write_all(&buf).await.expect("write");
    }
    let mut answer = [0u8; 1];
    tx.read_exact(&mut answer).await.expect("answer");
    let elapsed = started.elapsed();
    let used = cpu_time() + server.cpu_time() - cpu;
    let moved = frames * FRAME as u64;
    (gbits(moved, elapsed), used.as_secs_f64() / (moved as f64 / GIB as f64))
}

// ---- perf ----

struct Perf {
    upload: Vec<f64>,
    download: Vec<f64>,
    cpu_per_gib: Vec<f64>,
}

fn lp2p_node() -> Node {
    Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr")).build().expect("node")
}

/// Limits wide enough for the idle-connection run (many connections to one
/// peer), the concurrent dialers (all from 127.0.0.1) and the burst of
/// `MANY_STREAMS` perf streams on one connection.
fn wide_limits() -> lp2p::Config {
    let mut config =
        lp2p::Config { resource_manager: lp2p::rcmgr::ResourceManagerConfig::unlimited(), ..lp2p::Config::default() };
    config.max_pending_incoming_per_ip = config.max_pending_incoming;
    config.max_negotiating_inbound_streams = MANY_STREAMS;
    config.inbound_stream_limits.insert(lp2p::protocols::perf::PROTOCOL.to_string(), MANY_STREAMS);
    config
}

/// `plan.runs` uploads and downloads of `plan.bytes` against `server`; the
/// CPU time counts this process and the server's.
async fn perf_runs(plan: &Plan, server: &Server, mut run: impl AsyncFnMut(u64, u64) -> (Duration, Duration)) -> Perf {
    let mut out = Perf { upload: Vec::new(), download: Vec::new(), cpu_per_gib: Vec::new() };
    for _ in 0..plan.runs {
        let cpu = cpu_time() + server.cpu_time();
        let (up, _) = run(plan.bytes, 0).await;
        let (_, down) = run(0, plan.bytes).await;
        let used = cpu_time() + server.cpu_time() - cpu;
        out.upload.push(gbits(plan.bytes, up));
        out.download.push(gbits(plan.bytes, down));
        out.cpu_per_gib.push(used.as_secs_f64() / (2.0 * plan.bytes as f64 / GIB as f64));
    }
    out
}

async fn perf_lp2p_to(client: &Node, peer: lp2p::PeerId, up: u64, down: u64) -> (Duration, Duration) {
    let r = client.perf(peer, up, down).await.expect("perf");
    (r.upload_time, r.download_time)
}

// ---- dials ----

struct Dials {
    established_ms: Vec<f64>,
    first_ping_ms: Vec<f64>,
}

async fn dials_lp2p(target: &str, n: usize) -> Dials {
    let client = Node::builder().build().expect("node");
    let addr: lp2p::Multiaddr = target.parse().expect("addr");
    let mut out = Dials { established_ms: Vec::new(), first_ping_ms: Vec::new() };
    for _ in 0..n {
        let started = Instant::now();
        let peer = client.dial(addr.clone()).await.expect("dial");
        out.established_ms.push(started.elapsed().as_secs_f64() * 1e3);
        client.ping(peer).await.expect("ping");
        out.first_ping_ms.push(started.elapsed().as_secs_f64() * 1e3);
        client.disconnect(peer).await;
    }
    out
}

async fn dials_rust(target: &str, n: usize) -> Dials {
    let client = RustPeer::start().await;
    let mut out = Dials { established_ms: Vec::new(), first_ping_ms: Vec::new() };
    let peer: libp2p::Multiaddr = target.parse().expect("addr");
    let Some(libp2p::multiaddr::Protocol::P2p(remote)) = peer.iter().last() else { panic!("needs /p2p/") };
    for _ in 0..n {
        client.seen.lock().expect("lock").ping_ok.remove(&remote);
        let started = Instant::now();
        client.dial(target).await.expect("dial");
        out.established_ms.push(started.elapsed().as_secs_f64() * 1e3);
        wait_for_ping(&client, remote).await;
        out.first_ping_ms.push(started.elapsed().as_secs_f64() * 1e3);
        client.disconnect(remote).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    out
}

// ---- concurrent dialers ----

/// Completed dials (dial, then disconnect) per second with `DIALERS` clients
/// each dialing in a loop for `window`, and the CPU milliseconds per dial
/// (both ends, since both run in this process).
async fn dial_rate<C, F, Fut>(clients: &[Arc<C>], window: Duration, dial_once: F) -> (f64, f64)
where
    C: Send + Sync + 'static,
    F: Fn(Arc<C>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let cpu = cpu_time();
    let deadline = started + window;
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, dial_once) = (Arc::clone(client), dial_once.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    dial_once(Arc::clone(&client)).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0u64;
    for task in tasks {
        total += task.await.expect("dialer");
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let cpu_ms = (cpu_time() - cpu).as_secs_f64() * 1e3 / total.max(1) as f64;
    (rate, cpu_ms)
}

async fn dial_rate_lp2p(target: &str, window: Duration) -> (f64, f64) {
    let addr: lp2p::Multiaddr = target.parse().expect("addr");
    let clients: Vec<Arc<Node>> = (0..DIALERS).map(|_| Arc::new(Node::builder().build().expect("node"))).collect();
    let measured = dial_rate(&clients, window, move |client: Arc<Node>| {
        let addr = addr.clone();
        async move {
            let peer = client.dial(addr).await.expect("dial");
            client.disconnect(peer).await;
        }
    })
    .await;
    for client in clients {
        client.shutdown().await;
    }
    measured
}

async fn dial_rate_rust(target: &str, window: Duration) -> (f64, f64) {
    let remote = rust_peer_of(target);
    let mut clients = Vec::new();
    for _ in 0..DIALERS {
        clients.push(Arc::new(RustPeer::start().await));
    }
    let target = target.to_string();
    dial_rate(&clients, window, move |client: Arc<RustPeer>| {
        let target = target.clone();
        async move {
            client.dial(&target).await.expect("dial");
            client.disconnect(remote).await;
        }
    })
    .await
}

fn rust_peer_of(addr: &str) -> libp2p::PeerId {
    let addr: libp2p::Multiaddr = addr.parse().expect("addr");
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => panic!("{addr} needs /p2p/"),
    }
}

// ---- many streams on one connection ----

/// Seconds until `MANY_STREAMS` concurrent perf streams have each uploaded
/// `MANY_STREAM_BYTES`.
async fn many_streams_lp2p(client: &Node, peer: lp2p::PeerId) -> f64 {
    let started = Instant::now();
    let runs = (0..MANY_STREAMS).map(|_| client.perf(peer, MANY_STREAM_BYTES, 0));
    for result in futures::future::join_all(runs).await {
        result.expect("perf stream");
    }
    started.elapsed().as_secs_f64()
}

/// As [`many_streams_lp2p`]. rust-libp2p's stream API (`libp2p-stream`)
/// drops inbound streams while its accept queue is full ("Channel is full,
/// dropping inbound stream"), so under this burst some streams fail at once;
/// each is retried (at most `ATTEMPTS` times) and the total time includes
/// the retries, which are reported. `None` when a stream still failed.
async fn many_streams_rust(client: &RustPeer, server: &Server) -> Option<f64> {
    const ATTEMPTS: usize = 10;
    client.dial(&server.addr).await.expect("dial");
    let remote = rust_peer_of(&server.addr);
    let started = Instant::now();
    let runs = (0..MANY_STREAMS).map(|_| async move {
        let mut retries = 0;
        loop {
            match client.try_perf(remote, MANY_STREAM_BYTES, 0).await {
                Ok(_) => return Ok(retries),
                Err(e) if retries + 1 == ATTEMPTS => return Err(e),
                Err(_) => retries += 1,
            }
        }
    });
    let results = futures::future::join_all(runs).await;
    let elapsed = started.elapsed().as_secs_f64();
    let retries: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("rust-libp2p: a stream failed {ATTEMPTS} times (last: {e})");
        return None;
    }
    if retries > 0 {
        eprintln!("rust-libp2p: {retries} of {MANY_STREAMS} streams were dropped by the listener and retried");
    }
    Some(elapsed)
}

// ---- memory per idle connection ----

/// A listener in a child process (this program with `--serve KIND`); it
/// exits when its stdin closes, that is when the handle is dropped.
struct Server {
    child: tokio::process::Child,
    addr: String,
}

impl Server {
    async fn spawn(kind: &str) -> Server {
        use tokio::io::AsyncBufReadExt;
        let exe = std::env::current_exe().expect("own path");
        let mut child = tokio::process::Command::new(exe)
            .args(["--serve", kind])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        tokio::io::BufReader::new(stdout).read_line(&mut line).await.expect("server address");
        Server { child, addr: line.trim().to_string() }
    }

    fn pid(&self) -> String {
        self.child.id().expect("running").to_string()
    }

    fn rss(&self) -> u64 {
        rss_bytes(&self.pid())
    }

    /// The server's CPU time (user + system) so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields 14 and 15 (utime, stime), counted after the ")" that ends the command name.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        // Index before parsing: field 3 (the state letter) does not parse as
        // a number, and dropping it would shift utime and stime by one.
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(11) + field(12);
        // SAFETY: sysconf reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Duration::from_secs_f64(ticks as f64 / per_second)
    }

    /// The address without `/p2p/`, so that every dial opens a new connection.
    fn bare_addr(&self) -> String {
        self.addr.rsplit_once("/p2p/").map_or(self.addr.clone(), |(bare, _)| bare.to_string())
    }
}

/// Serves until stdin closes.
async fn serve(kind: &str) {
    let _keep: Box<dyn std::any::Any> = match kind {
        "lp2p" => {
            // The perf server: perf is off by default, so turned on here.
            let node = Node::builder()
                .config(wide_limits())
                .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
                .perf(true)
                .build()
                .expect("node");
            node.set_stream_handler(HOLD, hold);
            println!("{}", node.listen_addrs_with_peer_id()[0]);
            Box::new(node)
        }
        "rust" => {
            let peer = RustPeer::start().await;
            println!("{}", peer.full_addr());
            Box::new(peer)
        }
        "limit-plain" => serve_limit(false).await,
        "limit-sealed" => serve_limit(true).await,
        other => panic!("--serve lp2p|rust|limit-plain|limit-sealed, not {other}"),
    };
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}

/// Bytes of the server's resident memory per idle connection: `n` connections
/// opened after a warm-up of a few, and given time to finish identify.
async fn idle_memory(kind: &str, n: usize) -> f64 {
    const WARM_UP: usize = 8;
    const SETTLE: Duration = Duration::from_secs(2);
    let server = Server::spawn(kind).await;
    let addr = server.bare_addr();
    let mut dial: Box<dyn FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = match kind {
        "lp2p" => {
            let client = Node::builder().config(wide_limits()).build().expect("node");
            let addr: lp2p::Multiaddr = addr.parse().expect("addr");
            Box::new(move || {
                let client = client.clone();
                let addr = addr.clone();
                Box::pin(async move {
                    client.dial(addr).await.expect("dial");
                })
            })
        }
        _ => {
            let client = std::rc::Rc::new(RustPeer::start().await);
            Box::new(move || {
                let client = std::rc::Rc::clone(&client);
                let addr = addr.clone();
                Box::pin(async move {
                    client.dial(&addr).await.expect("dial");
                })
            })
        }
    };
    for _ in 0..WARM_UP {
        dial().await;
    }
    tokio::time::sleep(SETTLE).await;
    let before = server.rss();
    for _ in 0..n {
        dial().await;
    }
    tokio::time::sleep(SETTLE).await;
    let after = server.rss();
    after.saturating_sub(before) as f64 / n as f64
}

// ---- load: many peers, many open streams ----

/// Peers (one connection each) and open streams per peer in the load run.
const LOAD_PEERS: usize = 1000;
const LOAD_STREAMS_PER_PEER: usize = 10;
/// A protocol that holds its stream open: one byte each way, then it reads
/// until the remote closes.
const HOLD: &str = "/hold/1.0.0";

async fn hold(mut stream: lp2p::Stream) {
    let mut byte = [0u8; 1];
    if stream.read_exact(&mut byte).await.is_ok() && stream.write_all(&byte).await.is_ok() {
        // A small buffer on the task's own stack: what is measured is the
        // engine's cost of a stream, not a copy buffer's (tokio's is 8 KiB).
        let mut buf = [0u8; 64];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    }
}

/// Opens a held stream: when this returns, the listener's handler runs.
async fn open_held(node: &Node, peer: lp2p::PeerId) -> lp2p::Stream {
    let mut stream = node.new_stream(peer, HOLD).await.expect("hold stream");
    stream.write_all(b"h").await.expect("write");
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.expect("the listener answers");
    stream
}

/// The listener's resident memory per connection and per open stream, with
/// `LOAD_PEERS` peers (nodes of this process on one runtime) connected at
/// once and `LOAD_STREAMS_PER_PEER` streams open on each connection.
async fn load_lp2p() -> (f64, f64) {
    const WARM_UP: usize = 8;
    const SETTLE: Duration = Duration::from_secs(2);
    let server = Server::spawn("lp2p").await;
    let addr: lp2p::Multiaddr = server.addr.parse().expect("addr");
    let handle = tokio::runtime::Handle::current();
    let mut peers = Vec::new();
    let connect = async |n: usize, peers: &mut Vec<(Node, lp2p::PeerId)>| {
        for _ in 0..n {
            let node = Node::builder().runtime(handle.clone()).build().expect("node");
            let remote = node.dial(addr.clone()).await.expect("dial");
            peers.push((node, remote));
        }
    };
    connect(WARM_UP, &mut peers).await;
    tokio::time::sleep(SETTLE).await;
    let before = server.rss();
    connect(LOAD_PEERS, &mut peers).await;
    tokio::time::sleep(SETTLE).await;
    let connected = server.rss();
    let mut streams = Vec::new();
    for (node, remote) in &peers[WARM_UP..] {
        for _ in 0..LOAD_STREAMS_PER_PEER {
            streams.push(open_held(node, *remote).await);
        }
    }
    tokio::time::sleep(SETTLE).await;
    let with_streams = server.rss();
    eprintln!(
        "load: listener RSS {:.1} MiB idle, {:.1} MiB with {LOAD_PEERS} peers, {:.1} MiB with {} streams",
        before as f64 / 1048576.0,
        connected as f64 / 1048576.0,
        with_streams as f64 / 1048576.0,
        streams.len()
    );
    drop(streams);
    for (node, _) in peers {
        node.shutdown().await;
    }
    let per_connection = connected.saturating_sub(before) as f64 / LOAD_PEERS as f64;
    let per_stream = with_streams.saturating_sub(connected) as f64 / (LOAD_PEERS * LOAD_STREAMS_PER_PEER) as f64;
    (per_connection, per_stream)
}

async fn section_load(plan: &Plan, table: &mut Table) {
    let (mut per_conn, mut per_stream) = (Vec::new(), Vec::new());
    for _ in 0..plan.runs.min(3) {
        let (c, s) = load_lp2p().await;
        per_conn.push(c / 1024.0);
        per_stream.push(s / 1024.0);
    }
    table.push("load, 1000 peers: memory per connection (listener): lp2p", "KiB", per_conn, true);
    table.push("load, 10000 open streams: memory per stream (listener): lp2p", "KiB", per_stream, true);
}

/// Waits for the rust peer's first successful ping of `remote`, woken by the
/// ping event itself (polling would add its interval to the time).
async fn wait_for_ping(client: &RustPeer, remote: libp2p::PeerId) {
    loop {
        let notified = client.ping_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if client.seen.lock().expect("lock").ping_ok.contains_key(&remote) {
            return;
        }
        tokio::time::timeout(common::STEP, notified).await.expect("a ping in time");
    }
}

/// The table's rows, in order.
#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn push(&mut self, name: &str, unit: &'static str, values: Vec<f64>, lower_is_better: bool) {
        self.rows.push(Row { name: name.to_string(), unit, values, lower_is_better });
    }

    fn median(&self, name: &str) -> Option<(f64, bool)> {
        let row = self.rows.iter().find(|r| r.name == name)?;
        Some((stats(row.values.clone()).0, row.lower_is_better))
    }
}

/// Ratios of medians: (label, numerator row, denominator row).
const RATIOS: &[(&str, &str, &str)] = &[
    ("upload lp2p / rust-libp2p", "perf upload: lp2p -> lp2p", "perf upload: rust-libp2p -> rust-libp2p"),
    ("download lp2p / rust-libp2p", "perf download: lp2p -> lp2p", "perf download: rust-libp2p -> rust-libp2p"),
    ("upload lp2p / encrypted-stream limit", "perf upload: lp2p -> lp2p", LIMIT_SEALED),
    ("download lp2p / encrypted-stream limit", "perf download: lp2p -> lp2p", LIMIT_SEALED),
    ("cpu per GiB lp2p / rust-libp2p", "cpu per GiB (both ends): lp2p", "cpu per GiB (both ends): rust-libp2p"),
    ("cpu per GiB lp2p / sealed limit", "cpu per GiB (both ends): lp2p", LIMIT_SEALED_CPU),
    ("dial->established lp2p / rust-libp2p", "dial -> established: lp2p", "dial -> established: rust-libp2p"),
    ("dial->first ping lp2p / rust-libp2p", "dial -> first ping reply: lp2p", "dial -> first ping reply: rust-libp2p"),
    (
        "dials per second lp2p / rust-libp2p",
        "dials per second, 64 dialers: lp2p",
        "dials per second, 64 dialers: rust-libp2p",
    ),
    (
        "cpu per dial lp2p / rust-libp2p",
        "cpu per dial (both ends), 64 dialers: lp2p",
        "cpu per dial (both ends), 64 dialers: rust-libp2p",
    ),
    (
        "1000-stream time lp2p / rust-libp2p",
        "1000 streams x 1 MiB, one connection: lp2p",
        "1000 streams x 1 MiB, one connection: rust-libp2p",
    ),
    (
        "memory per idle connection lp2p / rust-libp2p",
        "memory per idle connection (listener): lp2p",
        "memory per idle connection (listener): rust-libp2p",
    ),
    ("encrypted limit / plain TCP limit", LIMIT_SEALED, LIMIT_TCP),
];
const LIMIT_TCP: &str = "limit: plain TCP";
const LIMIT_SEALED: &str = "limit: TCP + ChaCha20-Poly1305 per 64 KiB";
const LIMIT_TCP_CPU: &str = "cpu per GiB (both ends): limit, plain TCP";
const LIMIT_SEALED_CPU: &str = "cpu per GiB (both ends): limit, sealed";

fn ratios(table: &Table) -> Vec<(&'static str, f64, bool)> {
    RATIOS
        .iter()
        .filter_map(|(label, a, b)| {
            let (ma, lower_is_better) = table.median(a)?;
            let (mb, _) = table.median(b)?;
            Some((*label, ma / mb, lower_is_better))
        })
        .collect()
}

fn print_table(table: &Table) {
    println!("{:<52} {:>12} {:>12} {:>12}  unit", "measure", "median", "min", "max");
    for row in &table.rows {
        let (median, min, max) = stats(row.values.clone());
        println!("{:<52} {:>12.3} {:>12.3} {:>12.3}  {}", row.name, median, min, max, row.unit);
    }
    println!();
    println!("{:<52} {:>12}", "ratio (medians)", "value");
    for (label, value, lower_is_better) in ratios(table) {
        let better = if lower_is_better { "lower is better" } else { "higher is better" };
        println!("{label:<52} {value:>12.3}  ({better})");
    }
}

/// A JSON number; NaN (a measure with no successful run) becomes null.
fn json_number(v: f64) -> String {
    if v.is_finite() { format!("{v:.4}") } else { "null".to_string() }
}

fn write_json(table: &Table, machine: &str) {
    let mut json = format!("{{\n  \"machine\": \"{machine}\",\n  \"measures\": {{\n");
    for (i, row) in table.rows.iter().enumerate() {
        let (median, min, max) = stats(row.values.clone());
        let sep = if i + 1 == table.rows.len() { "" } else { "," };
        json.push_str(&format!(
            "    \"{}\": {{\"unit\": \"{}\", \"median\": {}, \"min\": {}, \"max\": {}, \"runs\": {}}}{sep}\n",
            row.name,
            row.unit,
            json_number(median),
            json_number(min),
            json_number(max),
            row.values.len()
        ));
    }
    json.push_str("  },\n  \"ratios\": {\n");
    let ratios = ratios(table);
    for (i, (label, value, _)) in ratios.iter().enumerate() {
        let sep = if i + 1 == ratios.len() { "" } else { "," };
        json.push_str(&format!("    \"{label}\": {}{sep}\n", json_number(*value)));
    }
    json.push_str("  }\n}\n");
    if let Err(e) = std::fs::write("bench.json", json) {
        eprintln!("could not write bench.json: {e}");
    }
}

/// The CPU model and core count, for the record.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}

// ---- the sections ----

async fn section_limits(plan: &Plan, table: &mut Table) {
    let plain_server = Server::spawn("limit-plain").await;
    let sealed_server = Server::spawn("limit-sealed").await;
    let (mut tcp, mut tcp_cpu) = (Vec::new(), Vec::new());
    let (mut sealed, mut sealed_cpu) = (Vec::new(), Vec::new());
    for _ in 0..plan.runs {
        let (gbit, cpu) = limit(&plain_server, plan.bytes, false).await;
        tcp.push(gbit);
        tcp_cpu.push(cpu);
        let (gbit, cpu) = limit(&sealed_server, plan.bytes, true).await;
        sealed.push(gbit);
        sealed_cpu.push(cpu);
    }
    table.push(LIMIT_TCP, "Gbit/s", tcp, false);
    table.push(LIMIT_SEALED, "Gbit/s", sealed, false);
    // What a minimal TCP+ChaCha20-Poly1305 program spends per GiB here: the
    // floor to compare lp2p's CPU with.
    table.push(LIMIT_TCP_CPU, "s/GiB", tcp_cpu, true);
    table.push(LIMIT_SEALED_CPU, "s/GiB", sealed_cpu, true);
}

/// perf in the four pairings, then 1,000 streams on one connection. Each
/// server runs in a child process (its own runtime and cores to share), as
/// a remote peer would, so that sending and receiving are not scheduled on
/// one runtime's threads.
async fn section_perf(plan: &Plan, table: &mut Table, streams: bool) {
    let lp2p_server = Server::spawn("lp2p").await;
    let rust_server = Server::spawn("rust").await;
    let client = lp2p_node();
    let rust_client = RustPeer::start().await;
    let peer = client.dial(lp2p_server.addr.parse().expect("addr")).await.expect("dial");
    if plan.bytes > 0 {
        let lp = perf_runs(plan, &lp2p_server, async |up, down| perf_lp2p_to(&client, peer, up, down).await).await;
        rust_client.dial(&rust_server.addr).await.expect("dial");
        let rs_peer = rust_peer_of(&rust_server.addr);
        let rr = perf_runs(plan, &rust_server, async |up, down| rust_client.perf(rs_peer, up, down).await).await;
        let to_rust = client.dial(rust_server.addr.parse().expect("addr")).await.expect("dial");
        let lr = perf_runs(plan, &rust_server, async |up, down| perf_lp2p_to(&client, to_rust, up, down).await).await;
        rust_client.dial(&lp2p_server.addr).await.expect("dial");
        let to_lp2p = rust_peer_of(&lp2p_server.addr);
        let rl = perf_runs(plan, &lp2p_server, async |up, down| rust_client.perf(to_lp2p, up, down).await).await;

        table.push("perf upload: lp2p -> lp2p", "Gbit/s", lp.upload, false);
        table.push("perf download: lp2p -> lp2p", "Gbit/s", lp.download, false);
        table.push("perf upload: rust-libp2p -> rust-libp2p", "Gbit/s", rr.upload, false);
        table.push("perf download: rust-libp2p -> rust-libp2p", "Gbit/s", rr.download, false);
        table.push("perf upload: lp2p -> rust-libp2p", "Gbit/s", lr.upload, false);
        table.push("perf download: lp2p -> rust-libp2p", "Gbit/s", lr.download, false);
        table.push("perf upload: rust-libp2p -> lp2p", "Gbit/s", rl.upload, false);
        table.push("perf download: rust-libp2p -> lp2p", "Gbit/s", rl.download, false);
        table.push("cpu per GiB (both ends): lp2p", "s/GiB", lp.cpu_per_gib, true);
        table.push("cpu per GiB (both ends): rust-libp2p", "s/GiB", rr.cpu_per_gib, true);
        table.push("cpu per GiB (both ends): lp2p <-> rust-libp2p", "s/GiB", lr.cpu_per_gib, true);
    }
    if !streams {
        return;
    }
    let mut lp_many = Vec::new();
    let mut rr_many = Vec::new();
    let mut rr_failed = 0;
    for _ in 0..plan.runs {
        lp_many.push(many_streams_lp2p(&client, peer).await);
        match many_streams_rust(&rust_client, &rust_server).await {
            Some(time) => rr_many.push(time),
            None => rr_failed += 1,
        }
    }
    if rr_failed > 0 {
        eprintln!("rust-libp2p: {rr_failed} of {} 1000-stream runs failed and are left out", plan.runs);
    }
    table.push("1000 streams x 1 MiB, one connection: lp2p", "s", lp_many, true);
    table.push("1000 streams x 1 MiB, one connection: rust-libp2p", "s", rr_many, true);
}

/// Sequential dials (latency), then 64 concurrent dialers (rate).
async fn section_dials(plan: &Plan, table: &mut Table) {
    // 64 dialers from 127.0.0.1 handshake at once: over the default per-IP cap.
    let dial_server = Node::builder()
        .config(wide_limits())
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .build()
        .expect("node");
    let lp2p_target = dial_server.listen_addrs_with_peer_id()[0].to_string();
    let ld = dials_lp2p(&lp2p_target, plan.dials).await;
    let dial_rust = RustPeer::start().await;
    let rd = dials_rust(&dial_rust.full_addr(), plan.dials).await;
    table.push("dial -> established: lp2p", "ms", ld.established_ms.clone(), true);
    table.push("dial -> established: rust-libp2p", "ms", rd.established_ms.clone(), true);
    table.push("dial -> first ping reply: lp2p", "ms", ld.first_ping_ms.clone(), true);
    table.push("dial -> first ping reply: rust-libp2p", "ms", rd.first_ping_ms.clone(), true);
    table.push("dial -> established p99: lp2p", "ms", vec![percentile(ld.established_ms, 0.99)], true);
    table.push("dial -> established p99: rust-libp2p", "ms", vec![percentile(rd.established_ms, 0.99)], true);
    table.push("dial -> first ping reply p99: lp2p", "ms", vec![percentile(ld.first_ping_ms, 0.99)], true);
    table.push("dial -> first ping reply p99: rust-libp2p", "ms", vec![percentile(rd.first_ping_ms, 0.99)], true);

    let (mut lp_rate, mut lp_cpu) = (Vec::new(), Vec::new());
    let (mut rr_rate, mut rr_cpu) = (Vec::new(), Vec::new());
    for _ in 0..plan.runs {
        let (rate, cpu) = dial_rate_lp2p(&lp2p_target, plan.dial_window).await;
        lp_rate.push(rate);
        lp_cpu.push(cpu);
        let (rate, cpu) = dial_rate_rust(&dial_rust.full_addr(), plan.dial_window).await;
        rr_rate.push(rate);
        rr_cpu.push(cpu);
    }
    table.push("dials per second, 64 dialers: lp2p", "1/s", lp_rate, false);
    table.push("dials per second, 64 dialers: rust-libp2p", "1/s", rr_rate, false);
    table.push("cpu per dial (both ends), 64 dialers: lp2p", "ms", lp_cpu, true);
    table.push("cpu per dial (both ends), 64 dialers: rust-libp2p", "ms", rr_cpu, true);
}

async fn section_memory(plan: &Plan, table: &mut Table) {
    let mut lp_mem = Vec::new();
    let mut rr_mem = Vec::new();
    for _ in 0..plan.runs {
        lp_mem.push(idle_memory("lp2p", plan.idle_connections).await / 1024.0);
        rr_mem.push(idle_memory("rust", plan.idle_connections).await / 1024.0);
    }
    table.push("memory per idle connection (listener): lp2p", "KiB", lp_mem, true);
    table.push("memory per idle connection (listener): rust-libp2p", "KiB", rr_mem, true);
}

const SECTIONS: &[&str] = &["limits", "perf", "streams", "dials", "memory", "load"];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value_of = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    if let Some(kind) = value_of("--serve") {
        return serve(&kind).await;
    }
    let only: Vec<String> = match value_of("--only") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => SECTIONS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        eprintln!("bench: unknown section {unknown}; sections: {}", SECTIONS.join(","));
        std::process::exit(2);
    }
    let want = |section: &str| only.iter().any(|s| s == section);
    let quick = args.iter().any(|a| a == "--quick");
    let plan = if quick {
        Plan { bytes: 64 << 20, runs: 3, dials: 200, dial_window: Duration::from_secs(2), idle_connections: 1000 }
    } else {
        Plan { bytes: GIB, runs: 5, dials: 1000, dial_window: Duration::from_secs(5), idle_connections: 1000 }
    };
    let machine = machine();
    eprintln!(
        "bench on {machine}: {} MiB transfers, {} runs, {} dials; sections {}",
        plan.bytes >> 20,
        plan.runs,
        plan.dials,
        only.join(",")
    );
    let mut table = Table::default();
    if want("limits") {
        section_limits(&plan, &mut table).await;
    }
    if want("perf") || want("streams") {
        let perf_plan = Plan { bytes: if want("perf") { plan.bytes } else { 0 }, ..plan };
        section_perf(&perf_plan, &mut table, want("streams")).await;
    }
    if want("dials") {
        section_dials(&plan, &mut table).await;
    }
    if want("memory") {
        section_memory(&plan, &mut table).await;
    }
    if want("load") {
        section_load(&plan, &mut table).await;
    }
    table.push(
        "resident memory of this process at the end",
        "MiB",
        vec![rss_bytes("self") as f64 / (1 << 20) as f64],
        true,
    );
    println!("machine: {machine}");
    print_table(&table);
    write_json(&table, &machine);
}
