//! `make soak`: a mixed workload against one lp2p node for a long time, to
//! show that what the node holds (memory, tokio tasks, file descriptors)
//! stays bounded once warmed up, and returns to its idle level when the
//! clients leave. `make test` runs a 10-minute form.
//!
//!   soak [--seconds N]   (default 3600)
//!   soak --serve         (internal) the node under test, in a child process;
//!                        answers `stats` on stdin with one line of figures
//!
//! The workload, from this process: long-lived clients that ping and echo on
//! their connection without end, and churning workers that each, again and
//! again, start a node (a fixed identity per worker, so the server's peer
//! store does not grow with churn), dial, ping, echo 64 KiB on a few
//! streams, put and get a DHT record (keys from a fixed set), open and drop
//! a stream without using it, and shut the node down.
//!
//! Checks, printed as `soak: N passed, N failed` (exit 1 on any failure):
//! after warm-up, the last quarter of the samples holds no more memory than
//! the first quarter allows (1.2x + 8 MiB), no more tasks (+64) and no more
//! descriptors (+32); every sample stays under the hard bounds; and after the
//! clients leave, tasks and descriptors come back to their idle level.

use std::time::{Duration, Instant};

use lp2p::protocols::kad;
use lp2p::{Keypair, Multiaddr, Node, PeerId, Stream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const ECHO: &str = "/echo/1.0.0";
const LONG_LIVED: usize = 16;
const CHURNERS: usize = 6;
const KEYS: usize = 32;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const STEP: Duration = Duration::from_secs(20);

/// One line of the server's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    rss: u64,
    fds: u64,
    tasks: u64,
    threads: u64,
    connections: u64,
}

fn proc_status_field(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn own_stats(node: &Node) -> Stats {
    Stats {
        rss: proc_status_field("VmRSS:") * 1024,
        fds: std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0),
        tasks: tokio::runtime::Handle::current().metrics().num_alive_tasks() as u64,
        threads: proc_status_field("Threads:"),
        connections: node.connected_peers().len() as u64,
    }
}

fn echo_handler(node: &Node) {
    node.set_stream_handler(ECHO, |mut stream: Stream| async move {
        let (mut r, mut w) = tokio::io::split(&mut stream);
        if tokio::io::copy(&mut r, &mut w).await.is_ok() {
            let _ = w.shutdown().await;
        }
    });
}

/// The DHT settings of both sides: the soak's keys (`/soak/N`) are in no
/// validated namespace, so unknown namespaces are accepted.
fn soak_dht(mode: kad::Mode) -> kad::Config {
    let validators = kad::Config::default().validators.accept_unknown_namespaces(true);
    kad::Config { mode, validators, ..kad::Config::default() }
}

/// The node under test: runs on this process's runtime so that its tasks
/// are the runtime's tasks.
async fn serve() {
    let node = Node::builder()
        .runtime(tokio::runtime::Handle::current())
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr"))
        .build()
        .expect("node starts");
    echo_handler(&node);
    let _dht = node.kad(soak_dht(kad::Mode::Server));
    // Limit hits say why a client was refused: print them for the log.
    let mut events = node.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let lp2p::Event::ResourceLimitExceeded { .. } = event {
                eprintln!("soak server: {event:?}");
            }
        }
    });
    println!("{}", node.listen_addrs_with_peer_id()[0]);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() == "stats" {
            let s = own_stats(&node);
            println!("{} {} {} {} {}", s.rss, s.fds, s.tasks, s.threads, s.connections);
        }
    }
    node.shutdown().await;
}

/// The server child process and a line-based channel to it.
struct Server {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    addr: Multiaddr,
}

impl Server {
    async fn spawn() -> Server {
        let exe = std::env::current_exe().expect("own path");
        let mut child = tokio::process::Command::new(exe)
            .arg("--serve")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let line = within("server address", stdout.next_line()).await.expect("read").expect("an address line");
        let addr = line.trim().parse().expect("the server prints a multiaddr");
        Server { _child: child, stdin, stdout, addr }
    }

    async fn stats(&mut self) -> Stats {
        self.stdin.write_all(b"stats\n").await.expect("server stdin");
        let line = within("server stats", self.stdout.next_line()).await.expect("read").expect("a stats line");
        let v: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        match v.as_slice() {
            [rss, fds, tasks, threads, connections] => {
                Stats { rss: *rss, fds: *fds, tasks: *tasks, threads: *threads, connections: *connections }
            }
            _ => panic!("bad stats line from the server: {line}"),
        }
    }
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("soak: timed out: {what}"),
    }
}

/// Errors the workload counts rather than fails on: under churn a dial may
/// race a shutdown; a soak is about what the server holds.
#[derive(Default)]
struct Tally {
    ops: u64,
    errors: u64,
}

async fn echo_once(node: &Node, peer: PeerId, len: usize) -> bool {
    let Ok(stream) = node.new_stream(peer, ECHO).await else { return false };
    let (mut r, mut w) = tokio::io::split(stream);
    let data = lp2p_tests::pattern(len, len as u64);
    let sent = data.clone();
    let writer = tokio::spawn(async move { w.write_all(&sent).await.is_ok() && w.shutdown().await.is_ok() });
    let mut back = Vec::with_capacity(len);
    let read = tokio::time::timeout(STEP, r.read_to_end(&mut back)).await;
    matches!(read, Ok(Ok(_))) && writer.await.unwrap_or(false) && back == data
}

/// A client that keeps one connection and uses it until `until`.
async fn long_lived(server: Multiaddr, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let node = Node::builder().runtime(tokio::runtime::Handle::current()).build().expect("client starts");
    let Ok(peer) = node.dial(server).await else {
        return Tally { ops: 1, errors: 1 };
    };
    while Instant::now() < until {
        tally.ops += 2;
        if node.ping(peer).await.is_err() {
            tally.errors += 1;
        }
        if !echo_once(&node, peer, 4096).await {
            tally.errors += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.shutdown().await;
    tally
}

/// One cycle of a churning worker: a node is born, works, and dies.
async fn churn_cycle(server: &Multiaddr, key: &Keypair, round: usize, tally: &mut Tally) {
    let node = Node::builder()
        .runtime(tokio::runtime::Handle::current())
        .identity(key.clone())
        .build()
        .expect("client starts");
    let result = async {
        let peer = node.dial(server.clone()).await.map_err(|e| format!("dial: {e}"))?;
        node.ping(peer).await.map_err(|e| format!("ping: {e}"))?;
        for _ in 0..3 {
            if !echo_once(&node, peer, 64 * 1024).await {
                return Err("echo".to_string());
            }
        }
        // A stream opened and dropped unused: the server must reset it, not keep it.
        drop(node.new_stream(peer, ECHO).await.map_err(|e| format!("new_stream: {e}"))?);
        let dht = node.kad(soak_dht(kad::Mode::Client));
        dht.add_bootstrap_peer(server.clone()).await.map_err(|e| format!("bootstrap: {e}"))?;
        let k = format!("/soak/{}", round % KEYS).into_bytes();
        dht.put_value(k.clone(), format!("value {round}").into_bytes()).await.map_err(|e| format!("put: {e}"))?;
        dht.get_value(k, 1).await.map_err(|e| format!("get: {e}"))?;
        Ok::<(), String>(())
    };
    tally.ops += 1;
    match tokio::time::timeout(STEP, result).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tally.errors += 1;
            if tally.errors <= 2 {
                eprintln!("soak: a churn cycle failed at {e}");
            }
        }
        Err(_) => {
            tally.errors += 1;
            eprintln!("soak: a churn cycle timed out");
        }
    }
    node.shutdown().await;
}

async fn churner(server: Multiaddr, until: Instant) -> Tally {
    let key = Keypair::generate_ed25519();
    let mut tally = Tally::default();
    let mut round = 0;
    while Instant::now() < until {
        churn_cycle(&server, &key, round, &mut tally).await;
        round += 1;
    }
    tally
}

/// The checks, each printed; returns (passed, failed).
fn check(samples: &[(f64, Stats)], idle: Stats, after: Stats) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    let mut verdict = |ok: bool, what: String| {
        println!("soak: {} {what}", if ok { "ok  " } else { "FAIL" });
        if ok { passed += 1 } else { failed += 1 }
    };
    let quarter = (samples.len() / 4).max(1);
    let first = &samples[..quarter];
    let last = &samples[samples.len() - quarter..];
    let max = |s: &[(f64, Stats)], f: fn(&Stats) -> u64| s.iter().map(|(_, x)| f(x)).max().unwrap_or(0);
    let (rss0, rss1) = (max(first, |s| s.rss), max(last, |s| s.rss));
    verdict(
        rss1 as f64 <= rss0 as f64 * 1.2 + 8.0 * 1048576.0,
        format!("memory: first quarter max {:.1} MiB, last quarter max {:.1} MiB", mib(rss0), mib(rss1)),
    );
    let (t0, t1) = (max(first, |s| s.tasks), max(last, |s| s.tasks));
    verdict(t1 <= t0 + 64, format!("tasks: first quarter max {t0}, last quarter max {t1}"));
    let (f0, f1) = (max(first, |s| s.fds), max(last, |s| s.fds));
    verdict(f1 <= f0 + 32, format!("descriptors: first quarter max {f0}, last quarter max {f1}"));
    // Hard bounds for every sample: what this workload can legitimately hold.
    let peers = (LONG_LIVED + CHURNERS) as u64;
    verdict(
        max(samples, |s| s.fds) <= idle.fds + 4 * peers + 32,
        format!("descriptors never above idle {} + 4 per client + 32", idle.fds),
    );
    verdict(
        max(samples, |s| s.rss) <= idle.rss + 256 * 1048576,
        format!("memory never above idle {:.1} MiB + 256 MiB", mib(idle.rss)),
    );
    verdict(
        after.tasks <= idle.tasks + 8,
        format!("tasks back to idle after the clients left: idle {}, after {}", idle.tasks, after.tasks),
    );
    verdict(
        after.fds <= idle.fds + 2,
        format!("descriptors back to idle after the clients left: idle {}, after {}", idle.fds, after.fds),
    );
    (passed, failed)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        return serve().await;
    }
    let seconds: u64 = match args.iter().position(|a| a == "--seconds").map(|i| args.get(i + 1)) {
        None => 3600,
        Some(Some(v)) => match v.parse() {
            Ok(n) if n >= 60 => n,
            _ => {
                eprintln!("soak: --seconds takes a whole number of at least 60, not {v}");
                std::process::exit(2);
            }
        },
        Some(None) => {
            eprintln!("soak: --seconds needs a value");
            std::process::exit(2);
        }
    };
    let mut server = Server::spawn().await;
    let idle = server.stats().await;
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let warm_up = Duration::from_secs((seconds / 5).min(120));
    println!("soak: {seconds} s against {} (idle: {idle:?})", server.addr);

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..LONG_LIVED {
        workers.spawn(long_lived(server.addr.clone(), until));
    }
    for _ in 0..CHURNERS {
        workers.spawn(churner(server.addr.clone(), until));
    }
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let s = server.stats().await;
        let t = start.elapsed().as_secs_f64();
        println!(
            "soak: t={t:.0}s rss={:.1}MiB tasks={} fds={} threads={} connections={}",
            mib(s.rss),
            s.tasks,
            s.fds,
            s.threads,
            s.connections
        );
        if start.elapsed() >= warm_up {
            samples.push((t, s));
        }
    }
    let mut tally = Tally::default();
    while let Some(done) = workers.join_next().await {
        let t = done.expect("worker task");
        tally.ops += t.ops;
        tally.errors += t.errors;
    }
    // The clients are gone: wait for the server to notice, then sample.
    let deadline = Instant::now() + STEP;
    let mut after = server.stats().await;
    while (after.connections > 0 || after.tasks > idle.tasks + 8) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = server.stats().await;
    }
    println!("soak: workload {} operations, {} failed; after: {after:?}", tally.ops, tally.errors);
    let (mut passed, mut failed) = check(&samples, idle, after);
    // Errors under churn are expected to be rare, not absent.
    let error_rate = tally.errors as f64 / tally.ops.max(1) as f64;
    if error_rate <= 0.01 {
        passed += 1;
    } else {
        failed += 1;
    }
    println!(
        "soak: {} operation error rate {:.3}% (at most 1%)",
        if error_rate <= 0.01 { "ok  " } else { "FAIL" },
        error_rate * 100.0
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
