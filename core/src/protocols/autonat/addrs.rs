//! What kind of address an address is: whether we can dial it at all, its
//! IP, and whether that IP is on the public internet. Shared by the server
//! (which addresses it is willing to dial) and the client (which of its
//! candidates are worth asking about).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::identity::PeerId;
use crate::multiaddr::{Multiaddr, Protocol};

/// The shape of an address a node can dial back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialable {
    /// `/ip4|ip6/<ip>/tcp/<port>`.
    Tcp(IpAddr),
    /// `/memory/<n>` (in-process; counts as private).
    Memory,
}

/// The dialable shape of `addr`, with an optional trailing `/p2p/<peer>`
/// that must name `peer` when given. `None` for anything else (DNS names,
/// QUIC, relays, port 0, another peer's ID...).
pub fn dialable(addr: &Multiaddr, peer: Option<&PeerId>) -> Option<Dialable> {
    let mut iter = addr.iter();
    let shape = match (iter.next()?, iter.next()) {
        (Protocol::Ip4(ip), Some(Protocol::Tcp(port))) if port != 0 => Dialable::Tcp(IpAddr::V4(ip)),
        (Protocol::Ip6(ip), Some(Protocol::Tcp(port))) if port != 0 => Dialable::Tcp(IpAddr::V6(ip)),
        (Protocol::Memory(_), None) => return Some(Dialable::Memory),
        (Protocol::Memory(_), Some(Protocol::P2p(id))) => {
            return (peer.is_none_or(|p| *p == id) && iter.next().is_none()).then_some(Dialable::Memory);
        }
        _ => return None,
    };
    match (iter.next(), iter.next()) {
        (None, _) => Some(shape),
        (Some(Protocol::P2p(id)), None) if peer.is_none_or(|p| *p == id) => Some(shape),
        _ => None,
    }
}

/// The IP an address starts with, if it starts with one.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

/// Whether `addr` is on the public internet: a dialable TCP address with a
/// global-scope IP. Memory addresses and everything else are not.
pub fn is_public(addr: &Multiaddr) -> bool {
    matches!(dialable(addr, None), Some(Dialable::Tcp(ip)) if is_global(ip))
}

/// Whether `ip` is globally routable: not loopback, private (RFC 1918,
/// unique-local), link-local, shared (CGNAT), documentation, benchmarking,
/// multicast, reserved or unspecified. (`IpAddr::is_global` is unstable.)
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_global_v4(ip),
        IpAddr::V6(ip) => is_global_v6(ip),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10: carrier-grade NAT.
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24: IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15: benchmarking.
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4: reserved.
        || a >= 240;
    !special
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7: unique local.
        || (s[0] & 0xfe00) == 0xfc00
        // fe80::/10 link-local, fec0::/10 the old site-local.
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // 2001:db8::/32: documentation.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // 100::/64: discard.
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0);
    !special
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("addr")
    }

    #[test]
    fn dialable_shapes() {
        let me = Keypair::generate_ed25519().public().to_peer_id();
        let other = Keypair::generate_ed25519().public().to_peer_id();
        let v4 = Some(Dialable::Tcp("1.2.3.4".parse().expect("ip")));
        assert_eq!(dialable(&addr("/ip4/1.2.3.4/tcp/1"), Some(&me)), v4);
        assert_eq!(dialable(&addr(&format!("/ip4/1.2.3.4/tcp/1/p2p/{me}")), Some(&me)), v4);
        assert_eq!(dialable(&addr(&format!("/ip4/1.2.3.4/tcp/1/p2p/{other}")), Some(&me)), None);
        assert!(dialable(&addr("/ip6/2001:4860::1/tcp/443"), None).is_some());
        assert_eq!(dialable(&addr("/memory/5"), None), Some(Dialable::Memory));
        assert_eq!(dialable(&addr(&format!("/memory/5/p2p/{other}")), Some(&me)), None);
        for no in ["/ip4/1.2.3.4/tcp/0", "/ip4/1.2.3.4/udp/1/quic-v1", "/dns4/example.com/tcp/1", "/ip4/1.2.3.4"] {
            assert_eq!(dialable(&addr(no), None), None, "{no}");
        }
        assert_eq!(dialable(&Multiaddr::empty(), None), None);
        assert_eq!(dialable(&addr("/ip4/1.2.3.4/tcp/1/ws"), None), None);
    }

    #[test]
    fn global_scope() {
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_global(public.parse().expect("ip")), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "ff02::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(!is_global(private.parse().expect("ip")), "{private}");
        }
        assert!(is_public(&addr("/ip4/1.1.1.1/tcp/4001")));
        assert!(!is_public(&addr("/ip4/127.0.0.1/tcp/4001")));
        assert!(!is_public(&addr("/memory/7")));
        assert_eq!(ip_of(&addr("/ip6/::1/tcp/1")), Some("::1".parse().expect("ip")));
        assert_eq!(ip_of(&addr("/memory/1")), None);
    }
}
