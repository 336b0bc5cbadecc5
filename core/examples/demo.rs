//! The README demo: two nodes on loopback find each other by mDNS (no address
//! is passed from one to the other), connect, identify each other, ping, and
//! echo a message over `/echo/1.0.0`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alice =
        lp2p::Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).agent_version("demo-alice").mdns(true).build()?;
    alice.set_stream_handler("/echo/1.0.0", |mut stream: lp2p::Stream| async move {
        let mut buf = Vec::new();
        if stream.read_to_end(&mut buf).await.is_ok() {
            let _ = stream.write_all(&buf).await;
            let _ = stream.shutdown().await;
        }
    });
    let addr = alice.listen_addrs_with_peer_id().into_iter().next().ok_or("alice has no listen address")?;
    println!("alice {} listens on {addr}", alice.peer_id());

    let bob =
        lp2p::Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).agent_version("demo-bob").mdns(true).build()?;
    let mut events = bob.events();
    // Bob has no address of alice: mDNS finds her and puts her addresses in
    // his peer store. (Her ID only tells her apart from other local peers.)
    let alice_id = alice.peer_id();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            if let lp2p::Event::Discovered { peer, addrs } = event
                && peer == alice_id
            {
                return Some((peer, addrs));
            }
        }
        None
    })
    .await
    .map_err(|_| "bob found no peer by mDNS in 10 s (is UDP port 5353 free, and multicast allowed on loopback?)")?;
    let (peer, addrs) = found.ok_or("bob's events ended")?;
    let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    println!("bob   {} found {peer} by mDNS at {}", bob.peer_id(), addrs.join(", "));

    // Dialing by peer ID: the address comes from the peer store.
    println!("bob   ping {peer}: {:?}", bob.ping(peer).await?);
    println!("bob   connected to {peer}");

    let identified = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = events.next().await {
            if let lp2p::Event::Identified { peer, info } = event {
                return Some((peer, info));
            }
        }
        None
    })
    .await?;
    if let Some((peer, info)) = identified {
        println!("bob   identified {peer}: agent {:?}, protocols {:?}", info.agent_version, info.protocols);
    }

    for _ in 0..2 {
        println!("bob   ping {peer}: {:?}", bob.ping(peer).await?);
    }

    let mut stream = bob.new_stream(peer, "/echo/1.0.0").await?;
    stream.write_all(b"hello from bob").await?;
    stream.shutdown().await?;
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).await?;
    println!("bob   echo over /echo/1.0.0: {:?}", String::from_utf8_lossy(&echoed));

    bob.shutdown().await;
    alice.shutdown().await;
    println!("both nodes shut down");
    Ok(())
}
