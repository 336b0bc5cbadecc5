//! The lp2p peer of the interop matrix (tests/interop), written on the Rust
//! API. Same command-line contract as the go, js and py peers there:
//!
//!   interop-peer listen [--transport T --security S --muxer M]
//!       prints {"peer_id":..,"addrs":[..]} and serves ping, identify and
//!       /echo/1.0.0 until killed
//!   interop-peer dial MULTIADDR [--transport T --security S --muxer M]
//!       dials, then checks handshake+one RTT, ping, identify, a 10 MiB echo
//!       and 50 concurrent echo streams; one JSON line per check; exit 0 only
//!       when every check passed

use std::future::Future;
use std::time::{Duration, Instant};

use lp2p::{Event, Multiaddr, Node, PeerId, Protocol, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO: &str = "/echo/1.0.0";
const ECHO_BYTES: usize = 10 << 20;
const STREAM_COUNT: usize = 50;
const STREAM_BYTES: usize = 64 << 10;
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn fail(msg: &str) -> ! {
    eprintln!("interop-peer: {msg}");
    std::process::exit(1)
}

/// A JSON string literal (the peer prints only ASCII multiaddrs, protocol
/// names and agents, but escape anyway).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list<T: ToString>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(|i| json_str(&i.to_string())).collect();
    format!("[{}]", parts.join(","))
}

/// Refuses what lp2p does not build yet, so the driver never mistakes an
/// unsupported combination for a pass.
fn check_combo(args: &[String]) {
    let mut combo =
        [("transport", "tcp".to_string()), ("security", "noise".to_string()), ("muxer", "yamux".to_string())];
    for pair in args.chunks(2) {
        let [key, value] = pair else { fail(&format!("option {} needs a value", pair[0])) };
        let name = key.trim_start_matches("--");
        let Some(slot) = combo.iter_mut().find(|(k, _)| *k == name) else { fail(&format!("unknown option {key}")) };
        slot.1 = value.clone();
    }
    if combo[0].1 != "tcp" || combo[1].1 != "noise" || combo[2].1 != "yamux" {
        fail(&format!("unsupported combination {combo:?}"));
    }
}

fn start_node(listen: bool) -> Node {
    let mut builder = Node::builder().agent_version(format!("lp2p-interop-peer/{}", env!("CARGO_PKG_VERSION")));
    if listen {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap_or_else(|_| fail("bad listen address"));
        builder = builder.listen(addr);
    }
    let node = builder.build().unwrap_or_else(|e| fail(&format!("start: {e}")));
    node.set_stream_handler(ECHO, |mut stream: Stream| async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let _ = stream.shutdown().await;
    });
    node
}

fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + seed * 7 + i / 251) % 256) as u8).collect()
}

async fn timed<T, E: std::fmt::Display>(what: &str, fut: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {STEP_TIMEOUT:?}")),
    }
}

/// Sends `n` pattern bytes on one /echo/1.0.0 stream, closes the write side
/// and checks that the same bytes come back.
async fn echo(node: Node, peer: PeerId, n: usize, seed: usize) -> Result<(), String> {
    let stream = timed("open echo stream", node.new_stream(peer, ECHO)).await?;
    let data = pattern(n, seed);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let sent = data.clone();
    let write = async move {
        writer.write_all(&sent).await?;
        writer.shutdown().await
    };
    let read = async move {
        let mut back = Vec::with_capacity(n);
        reader.read_to_end(&mut back).await.map(|_| back)
    };
    let (w, r) = timed("echo", async { Ok::<_, String>(tokio::join!(write, read)) }).await?;
    w.map_err(|e| format!("echo write: {e}"))?;
    let back = r.map_err(|e| format!("echo read: {e}"))?;
    if back != data {
        return Err(format!("echo returned {} bytes that differ from the {n} sent", back.len()));
    }
    Ok(())
}

fn report(check: &str, result: Result<String, String>) -> bool {
    match result {
        Ok(extra) => {
            println!("{{\"check\":\"{check}\",\"ok\":true{extra}}}");
            true
        }
        Err(e) => {
            println!("{{\"check\":\"{check}\",\"ok\":false,\"error\":{}}}", json_str(&e));
            false
        }
    }
}

/// Waits for the identify answer of `peer` and checks it: agent, the
/// protocols it serves, listen addresses, and the signed peer record (lp2p
/// keeps a record only once verified against the peer's key).
async fn identify(events: &mut lp2p::Events, peer: PeerId) -> Result<String, String> {
    let info = tokio::time::timeout(STEP_TIMEOUT, async {
        while let Some(ev) = events.next().await {
            if let Event::Identified { peer: p, info } = ev
                && p == peer
            {
                return Some(info);
            }
        }
        None
    })
    .await
    .map_err(|_| format!("no identify within {STEP_TIMEOUT:?}"))?
    .ok_or("the event stream ended")?;
    let record = if info.signed_peer_record.is_some() { "verified" } else { "absent" };
    if info.agent_version.is_empty() {
        return Err("no agent version".into());
    }
    for p in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", ECHO] {
        if !info.protocols.iter().any(|x| x == p) {
            return Err(format!("protocols {:?} lack {p}", info.protocols));
        }
    }
    if info.listen_addrs.is_empty() {
        return Err("no listen addresses".into());
    }
    Ok(format!(
        ",\"agent\":{},\"protocols\":{},\"listen_addrs\":{},\"signed_record\":\"{record}\"",
        json_str(&info.agent_version),
        json_list(&info.protocols),
        json_list(&info.listen_addrs)
    ))
}

async fn dial(node: &Node, addr: &str) -> bool {
    let target: Multiaddr = addr.parse().unwrap_or_else(|_| fail("invalid multiaddr"));
    let Some(Protocol::P2p(peer)) = target.iter().last() else { fail("the multiaddr must end in /p2p/<id>") };
    // Subscribe before dialing: identify may finish before dial returns.
    let mut events = node.events();
    let start = Instant::now();
    let handshake = async {
        timed("dial", node.dial(target.clone())).await?;
        // Handshake plus one round trip: the first ping completes it.
        timed("ping", node.ping(peer)).await?;
        Ok(format!(",\"ms\":{:.3}", start.elapsed().as_secs_f64() * 1000.0))
    };
    if !report("handshake", handshake.await) {
        return false;
    }
    let mut all = true;
    let rtt = timed("ping", node.ping(peer)).await;
    all &= report("ping", rtt.map(|d| format!(",\"rtt_ms\":{:.3}", d.as_secs_f64() * 1000.0)));
    all &= report("identify", identify(&mut events, peer).await);
    let big = echo(node.clone(), peer, ECHO_BYTES, 0).await;
    all &= report("echo", big.map(|()| format!(",\"bytes\":{ECHO_BYTES}")));
    let jobs: Vec<_> = (0..STREAM_COUNT).map(|i| tokio::spawn(echo(node.clone(), peer, STREAM_BYTES, i + 1))).collect();
    let mut streams = Ok(format!(",\"count\":{STREAM_COUNT}"));
    for job in jobs {
        match job.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => streams = Err(e),
            Err(e) => streams = Err(format!("echo task: {e}")),
        }
    }
    all &= report("streams", streams);
    all
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("listen") => {
            check_combo(&args[1..]);
            let node = start_node(true);
            let mut events = node.events();
            // Wait for the listener so the printed address is dialable.
            let up = tokio::time::timeout(STEP_TIMEOUT, async {
                while node.listen_addrs().is_empty() {
                    if events.next().await.is_none() {
                        break;
                    }
                }
            });
            if up.await.is_err() || node.listen_addrs().is_empty() {
                fail("no listen address");
            }
            println!(
                "{{\"peer_id\":\"{}\",\"addrs\":{}}}",
                node.peer_id(),
                json_list(&node.listen_addrs_with_peer_id())
            );
            std::future::pending::<()>().await;
        }
        Some("dial") if args.len() >= 2 => {
            check_combo(&args[2..]);
            let node = start_node(false);
            let ok = dial(&node, &args[1]).await;
            node.shutdown().await;
            std::process::exit(if ok { 0 } else { 1 });
        }
        _ => fail("usage: interop-peer listen | interop-peer dial MULTIADDR [--transport T --security S --muxer M]"),
    }
}
