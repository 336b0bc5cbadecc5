//! The Kademlia scale benchmark: N lp2p DHT servers (default 10,000) in one
//! process on the memory transport; then lookups from random nodes for
//! random others. Reports lookup latency, hops, messages (requests) per
//! lookup and resident memory per node. Not a test: nothing here asserts a
//! time (the 1,000-node test in tests/kad.rs asserts correctness).
//!
//!   cargo run --release -p lp2p-tests --example kad-bench -- [NODES] [LOOKUPS]

use std::time::{Duration, Instant};

use lp2p::Node;
use lp2p::protocols::kad::{Config, Kad, Mode};

fn resident_bytes() -> u64 {
    // VmRSS in /proc/self/status, in kB; 0 where unavailable.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn config() -> Config {
    Config {
        mode: Mode::Server,
        request_timeout: Duration::from_secs(10),
        random_walk_interval: None,
        ..Config::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let lookups: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let base = resident_bytes();
    let started = Instant::now();
    let mut nodes: Vec<(Node, Kad)> = Vec::with_capacity(n);
    while nodes.len() < n {
        let wave = if nodes.len() < 20 { 1 } else { 32.min(n - nodes.len()) };
        let mut joining = tokio::task::JoinSet::new();
        for j in 0..wave {
            let node = Node::builder().listen("/memory/0".parse()?).build()?;
            let kad = node.kad(config());
            let via = if nodes.is_empty() {
                None
            } else {
                Some(nodes[((nodes.len() + j) * 7919) % nodes.len()].0.listen_addrs_with_peer_id()[0].clone())
            };
            joining.spawn(async move {
                if let Some(via) = via {
                    kad.add_bootstrap_peer(via).await?;
                    kad.get_closest_peers(node.peer_id().to_bytes()).await?;
                }
                Ok::<_, lp2p::protocols::kad::KadError>((node, kad))
            });
        }
        let before = nodes.len();
        while let Some(joined) = joining.join_next().await {
            nodes.push(joined??);
        }
        if nodes.len() / 1000 != before / 1000 {
            eprintln!("{} nodes joined after {:.1?}", nodes.len(), started.elapsed());
        }
    }
    let built = started.elapsed();
    let memory = resident_bytes().saturating_sub(base);
    let mut latencies = Vec::with_capacity(lookups);
    let mut hops = Vec::with_capacity(lookups);
    let mut requests = Vec::with_capacity(lookups);
    let mut found = 0;
    for i in 0..lookups {
        let seeker = &nodes[(i * 7_907 + 13) % n].1;
        let target = nodes[(i * 104_729 + n / 2) % n].0.peer_id();
        let t = Instant::now();
        let result = seeker.get_closest_peers(target.to_bytes()).await?;
        latencies.push(t.elapsed());
        hops.push(result.hops);
        requests.push(result.requests);
        if result.peers.first().map(|p| p.peer) == Some(target) {
            found += 1;
        }
    }
    latencies.sort();
    hops.sort();
    requests.sort();
    let mean_requests = requests.iter().sum::<usize>() as f64 / lookups.max(1) as f64;
    println!("kad-bench: {n} nodes on the memory transport, built in {built:.1?}");
    println!("  lookups          {lookups} ({found} reached their target first)");
    println!(
        "  latency          p50 {:.2?}  p90 {:.2?}  p99 {:.2?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99)
    );
    println!(
        "  hops             median {}  max {}  (log2 N = {:.1})",
        hops[hops.len() / 2],
        hops.last().copied().unwrap_or(0),
        (n as f64).log2()
    );
    println!("  messages/lookup  mean {mean_requests:.1}  median {}", requests[requests.len() / 2]);
    println!("  memory           {:.1} KiB resident per node (whole process / N)", memory as f64 / 1024.0 / n as f64);
    // Shutting 10,000 nodes down one by one takes longer than the run: the
    // process exit ends them all.
    std::process::exit(0)
}
