//! The tokio driver of [`Mdns`]: one socket on port 5353 that joined the
//! mDNS group on each interface, and one sending socket per interface.
//!
//! Interfaces: the IPv4 addresses we listen on (a `0.0.0.0` listener counts
//! as every interface), so a node on `127.0.0.1` stays on loopback; a node
//! that listens on no IPv4 address queries on every non-loopback interface.
//! The set is refreshed every few seconds (listeners come and go).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::wire::MAX_DATAGRAM;
use super::{IPV4_MULTICAST, Mdns, MdnsError, MdnsEvent, PORT, Received};
use crate::multiaddr::{Multiaddr, Protocol};

/// How often the interface set is re-read.
const REFRESH: Duration = Duration::from_secs(5);
/// The limit on one datagram send.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause after a failed receive.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the driver needs from the node.
pub trait Host: Send + 'static {
    /// Our listen addresses (without `/p2p/`).
    fn listen_addrs(&self) -> Vec<Multiaddr>;
    /// Called for each peer event.
    fn on_event(&self, event: MdnsEvent);
}

/// A socket that multicasts out of one interface.
struct Sender {
    socket: UdpSocket,
}

/// Runs mDNS on `receiver` (from [`bind_receiver`]) until the future is dropped.
pub async fn run(mut mdns: Mdns, receiver: UdpSocket, host: impl Host) {
    let mut senders: BTreeMap<Ipv4Addr, Sender> = BTreeMap::new();
    let mut local_ips: Vec<IpAddr> = Vec::new();
    let mut next_refresh = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        if now >= next_refresh {
            local_ips = local_ips_now();
            refresh(&receiver, &mut senders, &interfaces(&host.listen_addrs(), &local_ips));
            next_refresh = now + REFRESH;
        }
        let deadline = Instant::from_std(mdns.poll_timeout()).min(next_refresh);
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                let (query, events) = mdns.handle_timeout(Instant::now().into_std());
                if let Some(query) = query {
                    for sender in senders.values() {
                        send(sender, &query).await;
                    }
                }
                events.into_iter().for_each(|e| host.on_event(e));
            }
            received = receiver.recv_from(&mut buf) => {
                let (len, from) = match received {
                    Ok(got) => got,
                    Err(e) => {
                        // ICMP errors and the like surface here; the socket still
                        // works. The pause keeps a persistent error from spinning.
                        tracing::debug!(error = %e, "mDNS receive failed");
                        tokio::time::sleep(RECEIVE_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let source = from.ip();
                let is_local = local_ips.contains(&source);
                match mdns.handle_datagram(&buf[..len], source, is_local, Instant::now().into_std()) {
                    Ok(Received::Answer { id }) => {
                        let listen = host.listen_addrs();
                        for (ip, sender) in &senders {
                            for packet in mdns.response(id, &addrs_on(&listen, *ip)) {
                                send(sender, &packet).await;
                            }
                        }
                    }
                    Ok(Received::AnswerService { id }) => {
                        if let Some(packet) = mdns.service_response(id) {
                            for sender in senders.values() {
                                send(sender, &packet).await;
                            }
                        }
                    }
                    Ok(Received::Events(events)) => events.into_iter().for_each(|e| host.on_event(e)),
                    Err(e) => tracing::debug!(%from, error = %e, "mDNS datagram ignored"),
                }
            }
        }
    }
}

async fn send(sender: &Sender, packet: &[u8]) {
    let to = SocketAddr::V4(SocketAddrV4::new(IPV4_MULTICAST, PORT));
    match tokio::time::timeout(SEND_TIMEOUT, sender.socket.send_to(packet, to)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "mDNS send failed"),
        Err(_) => tracing::debug!(error = %MdnsError::Timeout, "mDNS send failed"),
    }
}

/// Port 5353 on every address, shared with other mDNS responders on the
/// host. Call inside a tokio runtime.
pub fn bind_receiver() -> Result<UdpSocket, MdnsError> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(socket2::Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(socket.into())?)
}

fn bind_sender(ip: Ipv4Addr) -> Result<Sender, MdnsError> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(socket2::Protocol::UDP))?;
    socket.set_multicast_if_v4(&ip)?;
    socket.set_multicast_loop_v4(true)?;
    // RFC 6762 §11: link-local traffic goes out with TTL 255.
    socket.set_multicast_ttl_v4(255)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(ip, 0)).into())?;
    socket.set_nonblocking(true)?;
    Ok(Sender { socket: UdpSocket::from_std(socket.into())? })
}

/// Joins the group on new interfaces and leaves it on gone ones.
fn refresh(receiver: &UdpSocket, senders: &mut BTreeMap<Ipv4Addr, Sender>, wanted: &[Ipv4Addr]) {
    senders.retain(|ip, _| {
        let keep = wanted.contains(ip);
        if !keep {
            let _ = receiver.leave_multicast_v4(IPV4_MULTICAST, *ip);
        }
        keep
    });
    for ip in wanted {
        if senders.contains_key(ip) {
            continue;
        }
        // Joining twice (another socket of ours) is harmless: AddrInUse.
        if let Err(e) = receiver.join_multicast_v4(IPV4_MULTICAST, *ip)
            && e.kind() != std::io::ErrorKind::AddrInUse
        {
            tracing::debug!(%ip, error = %e, "mDNS: cannot join the group on this interface");
            continue;
        }
        match bind_sender(*ip) {
            Ok(sender) => {
                senders.insert(*ip, sender);
            }
            Err(e) => tracing::debug!(%ip, error = %e, "mDNS: cannot send on this interface"),
        }
    }
}

fn local_ips_now() -> Vec<IpAddr> {
    if_addrs::get_if_addrs().map(|list| list.into_iter().map(|i| i.ip()).collect()).unwrap_or_default()
}

/// The interfaces (by IPv4 address) mDNS runs on; see the module docs.
fn interfaces(listen: &[Multiaddr], local_ips: &[IpAddr]) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = listen
        .iter()
        .filter_map(|a| match a.iter().next() {
            Some(Protocol::Ip4(ip)) if local_ips.contains(&IpAddr::V4(ip)) => Some(ip),
            _ => None,
        })
        .collect();
    if out.is_empty() {
        out = local_ips
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) if !v4.is_loopback() => Some(*v4),
                _ => None,
            })
            .collect();
    }
    out.sort();
    out.dedup();
    out
}

/// Our listen addresses on the interface `ip`.
fn addrs_on(listen: &[Multiaddr], ip: Ipv4Addr) -> Vec<Multiaddr> {
    listen.iter().filter(|a| matches!(a.iter().next(), Some(Protocol::Ip4(v4)) if v4 == ip)).cloned().collect()
}
