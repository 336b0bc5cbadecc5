//! IP networks: per-subnet connection counts and the allowlist.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::limits::UNLIMITED;
use crate::{Multiaddr, PeerId, Protocol};

/// An IP network: an address and how many leading bits of it matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a network or an allowlist entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The prefix is longer than the address (32 bits for IPv4, 128 for IPv6).
    #[error("prefix length {0} is too long for the address")]
    PrefixTooLong(u8),
    /// Not of the form `address` or `address/prefix`.
    #[error("not an IP network")]
    Malformed,
    /// The multiaddr does not start with `/ip4` or `/ip6`.
    #[error("the multiaddr has no IP address")]
    NoAddress,
    /// The multiaddr has parts other than `/ipcidr` and `/p2p` after the address.
    #[error("unexpected multiaddr part after the address")]
    UnexpectedPart,
}

impl IpNetwork {
    /// 127.0.0.0/8.
    pub const LOOPBACK_V4: IpNetwork = IpNetwork { addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), prefix_len: 8 };
    /// ::1/128.
    pub const LOOPBACK_V6: IpNetwork = IpNetwork { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), prefix_len: 128 };

    /// The network of `addr`'s first `prefix_len` bits (the rest are cleared).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<IpNetwork, NetworkError> {
        if prefix_len > max_prefix(addr) {
            return Err(NetworkError::PrefixTooLong(prefix_len));
        }
        Ok(IpNetwork { addr: mask(addr, prefix_len), prefix_len })
    }

    /// The first address of the network.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that matter.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` is in the network (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix_len) == self.addr
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpNetwork {
    type Err = NetworkError;

    /// `1.2.3.0/24`, `2001:db8::/32`, or a bare address (the whole length).
    fn from_str(text: &str) -> Result<IpNetwork, NetworkError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| NetworkError::Malformed)?;
        let prefix_len = match prefix {
            Some(prefix) => prefix.parse().map_err(|_| NetworkError::Malformed)?,
            None => max_prefix(addr),
        };
        IpNetwork::new(addr, prefix_len)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with all but its first `prefix_len` bits cleared.
fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix_len.min(32))).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix_len.min(128))).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

/// At most `max_conns` connections from each subnet of `prefix_len` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetLimit {
    /// The subnet size: 32 for one IPv4 address, 56 for an IPv6 /56.
    pub prefix_len: u8,
    /// Connections allowed from each such subnet.
    pub max_conns: u64,
}

/// At most `max_conns` connections from all of `network`, in place of the
/// subnet limits for addresses inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkLimit {
    /// The network.
    pub network: IpNetwork,
    /// Connections allowed from the whole network; [`UNLIMITED`] for none.
    pub max_conns: u64,
}

/// A network whose connections skip the system, transient and per-IP
/// limits; if `peer` is set, only connections that turn out to be that peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowlistEntry {
    /// The remote addresses.
    pub network: IpNetwork,
    /// The one peer allowed from `network`, or any peer.
    pub peer: Option<PeerId>,
}

impl AllowlistEntry {
    /// Reads go-libp2p's form: `/ip4/1.2.3.4`, `/ip4/1.2.3.0/ipcidr/24`,
    /// `/ip6/2001:db8::/ipcidr/32`, each optionally followed by `/p2p/<peer>`.
    pub fn from_multiaddr(addr: &Multiaddr) -> Result<AllowlistEntry, NetworkError> {
        let mut parts = addr.iter();
        let ip = match parts.next() {
            Some(Protocol::Ip4(v4)) => IpAddr::V4(v4),
            Some(Protocol::Ip6(v6)) => IpAddr::V6(v6),
            _ => return Err(NetworkError::NoAddress),
        };
        let mut prefix_len = max_prefix(ip);
        let mut peer = None;
        for part in parts {
            match part {
                Protocol::Ipcidr(len) if peer.is_none() => prefix_len = len,
                Protocol::P2p(id) if peer.is_none() => peer = Some(id),
                _ => return Err(NetworkError::UnexpectedPart),
            }
        }
        Ok(AllowlistEntry { network: IpNetwork::new(ip, prefix_len)?, peer })
    }
}

/// How an address matched the allowlist when the peer was not yet known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllowMatch {
    /// Not allowlisted.
    No,
    /// An entry for any peer matched: allowlisted whatever the peer.
    AnyPeer,
    /// Only entries bound to peers matched: confirmed or lost at `set_peer`.
    SomePeer,
}

pub(crate) fn allowlist_match(allowlist: &[AllowlistEntry], ip: IpAddr) -> AllowMatch {
    let mut found = AllowMatch::No;
    for entry in allowlist.iter().filter(|entry| entry.network.contains(ip)) {
        match entry.peer {
            None => return AllowMatch::AnyPeer,
            Some(_) => found = AllowMatch::SomePeer,
        }
    }
    found
}

pub(crate) fn allowlist_allows_peer(allowlist: &[AllowlistEntry], ip: IpAddr, peer: PeerId) -> bool {
    allowlist.iter().any(|entry| entry.network.contains(ip) && entry.peer.is_none_or(|allowed| allowed == peer))
}

/// Connections per subnet, as go-libp2p's connection limiter counts them.
/// The table holds one entry per subnet with a live connection, so it is
/// bounded by the connections the system scope admits.
#[derive(Debug, Default)]
pub(crate) struct SubnetCounts {
    /// Per network limit, the count (index as in the config's `network_limits`).
    networks: Vec<u64>,
    /// Per (subnet limit index, IPv6?, masked address), the count.
    subnets: HashMap<(usize, bool, IpAddr), u64>,
}

/// Why a connection was refused: the network and its limit and count.
pub(crate) struct SubnetRefusal {
    pub network: IpNetwork,
    pub limit: u64,
    pub current: u64,
}

/// The limits a `SubnetCounts` applies, borrowed from the config.
pub(crate) struct SubnetRules<'a> {
    pub ipv4: &'a [SubnetLimit],
    pub ipv6: &'a [SubnetLimit],
    pub networks: &'a [NetworkLimit],
}

impl SubnetRules<'_> {
    /// The most specific network limit containing `ip`, by index.
    fn network_for(&self, ip: IpAddr) -> Option<usize> {
        self.networks
            .iter()
            .enumerate()
            .filter(|(_, limit)| limit.network.contains(ip))
            .max_by_key(|(_, limit)| limit.network.prefix_len)
            .map(|(index, _)| index)
    }

    fn subnet_limits(&self, ip: IpAddr) -> &[SubnetLimit] {
        if ip.is_ipv4() { self.ipv4 } else { self.ipv6 }
    }
}

impl SubnetCounts {
    /// Counts a connection from `ip`, or says which limit refuses it. A
    /// network limit that matches replaces the subnet limits, as in go.
    pub fn add(&mut self, rules: &SubnetRules<'_>, ip: IpAddr) -> Result<(), SubnetRefusal> {
        if let Some(index) = rules.network_for(ip) {
            if self.networks.len() < rules.networks.len() {
                self.networks.resize(rules.networks.len(), 0);
            }
            let limit = rules.networks[index];
            let current = self.networks[index];
            if limit.max_conns != UNLIMITED && current >= limit.max_conns {
                return Err(SubnetRefusal { network: limit.network, limit: limit.max_conns, current });
            }
            self.networks[index] += 1;
            return Ok(());
        }
        let v6 = ip.is_ipv6();
        for (index, limit) in rules.subnet_limits(ip).iter().enumerate() {
            let subnet = mask(ip, limit.prefix_len);
            let current = self.subnets.get(&(index, v6, subnet)).copied().unwrap_or(0);
            if limit.max_conns != UNLIMITED && current >= limit.max_conns {
                let network = IpNetwork { addr: subnet, prefix_len: limit.prefix_len.min(max_prefix(ip)) };
                return Err(SubnetRefusal { network, limit: limit.max_conns, current });
            }
        }
        for (index, limit) in rules.subnet_limits(ip).iter().enumerate() {
            *self.subnets.entry((index, v6, mask(ip, limit.prefix_len))).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Forgets a connection from `ip` counted by [`SubnetCounts::add`].
    pub fn remove(&mut self, rules: &SubnetRules<'_>, ip: IpAddr) {
        if let Some(index) = rules.network_for(ip) {
            if let Some(count) = self.networks.get_mut(index) {
                *count = count.saturating_sub(1);
            }
            return;
        }
        let v6 = ip.is_ipv6();
        for (index, limit) in rules.subnet_limits(ip).iter().enumerate() {
            let key = (index, v6, mask(ip, limit.prefix_len));
            if let Some(count) = self.subnets.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.subnets.remove(&key);
                }
            }
        }
    }

    /// Whether no connection is counted (for the leak tests).
    pub fn is_empty(&self) -> bool {
        self.subnets.is_empty() && self.networks.iter().all(|count| *count == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let net: IpNetwork = "10.1.2.3/16".parse().expect("network");
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert!(net.contains("10.1.200.7".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(!net.contains("::ffff:10.1.0.1".parse().expect("ip")));
        let host: IpNetwork = "2001:db8::1".parse().expect("network");
        assert_eq!(host.prefix_len(), 128);
        let zero: IpNetwork = "0.0.0.0/0".parse().expect("network");
        assert!(zero.contains("8.8.8.8".parse().expect("ip")));
        assert_eq!("1.2.3.4/33".parse::<IpNetwork>(), Err(NetworkError::PrefixTooLong(33)));
        assert_eq!("1.2.3/8".parse::<IpNetwork>(), Err(NetworkError::Malformed));
    }

    #[test]
    fn allowlist_entries_read_multiaddrs() {
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/1.2.3.0/ipcidr/24/p2p/{peer}").parse().expect("addr");
        let entry = AllowlistEntry::from_multiaddr(&addr).expect("entry");
        assert_eq!(entry.network.to_string(), "1.2.3.0/24");
        assert_eq!(entry.peer, Some(peer));
        let addr: Multiaddr = "/ip6/2001:db8::5".parse().expect("addr");
        let entry = AllowlistEntry::from_multiaddr(&addr).expect("entry");
        assert_eq!(entry.network.prefix_len(), 128);
        assert_eq!(entry.peer, None);
        let addr: Multiaddr = "/ip4/1.2.3.4/tcp/1".parse().expect("addr");
        assert_eq!(AllowlistEntry::from_multiaddr(&addr), Err(NetworkError::UnexpectedPart));
        let addr: Multiaddr = "/dns4/example.com".parse().expect("addr");
        assert_eq!(AllowlistEntry::from_multiaddr(&addr), Err(NetworkError::NoAddress));
        let addr: Multiaddr = "/ip4/1.2.3.4/ipcidr/40".parse().expect("addr");
        assert_eq!(AllowlistEntry::from_multiaddr(&addr), Err(NetworkError::PrefixTooLong(40)));
    }
}
