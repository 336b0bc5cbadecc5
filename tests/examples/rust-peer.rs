//! A rust-libp2p peer (the pinned `libp2p` crate) for tests in other
//! languages: the C CLI, and later Python, Kotlin and the interop matrix.
//!
//!   rust-peer listen                 prints {"peer_id":..,"addrs":[..]} and serves
//!                                    ping, identify and /echo/1.0.0 until killed
//!   rust-peer dial MULTIADDR [BYTES] dials, waits for a ping, echoes BYTES
//!                                    (default 1 MiB) and checks them; prints
//!                                    JSON lines; exit status 0 on success

#[path = "../tests/common/mod.rs"]
mod common;

use futures::io::AsyncWriteExt as _;

fn fail(msg: &str) -> ! {
    eprintln!("rust-peer: {msg}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let peer = common::RustPeer::start().await;
    match args.first().map(String::as_str) {
        Some("listen") => {
            println!("{{\"peer_id\":\"{}\",\"addrs\":[\"{}\"]}}", peer.peer_id, peer.full_addr());
            std::future::pending::<()>().await;
        }
        Some("dial") => {
            let addr = args.get(1).unwrap_or_else(|| fail("dial needs a multiaddr"));
            let bytes: usize = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(1 << 20);
            let remote: libp2p::Multiaddr = addr.parse().unwrap_or_else(|_| fail("invalid multiaddr"));
            let Some(libp2p::multiaddr::Protocol::P2p(remote_peer)) = remote.iter().last() else {
                fail("the multiaddr must end in /p2p/<id>")
            };
            if let Err(e) = peer.dial(addr).await {
                fail(&format!("dial failed: {e}"));
            }
            let rtt = peer.wait_for("a ping reply", |seen| seen.ping_ok.get(&remote_peer).copied()).await;
            println!("{{\"event\":\"ping\",\"rtt_ms\":{:.3}}}", rtt.as_secs_f64() * 1000.0);
            let data = lp2p_tests::pattern(bytes, 5);
            let stream = peer.open_echo(remote_peer).await.into_inner();
            let (mut r, mut w) = futures::io::AsyncReadExt::split(stream);
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                let _ = w.write_all(&sent).await;
                let _ = w.close().await;
            });
            let back = common::read_all(&mut r).await;
            let _ = writer.await;
            let ok = back == data;
            println!("{{\"event\":\"echo\",\"bytes\":{bytes},\"ok\":{ok}}}");
            std::process::exit(if ok { 0 } else { 1 });
        }
        _ => fail("usage: rust-peer listen | rust-peer dial MULTIADDR [BYTES]"),
    }
}
