//! One multiaddr component: its code, binary value and text form.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::Split;

use super::Error;
use crate::identity::PeerId;
use crate::wire::varint;

/// A multiaddr component with its value. Names follow the protocol table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `ip4` (4)
    Ip4(Ipv4Addr),
    /// `tcp` (6)
    Tcp(u16),
    /// `udp` (273)
    Udp(u16),
    /// `dccp` (33)
    Dccp(u16),
    /// `ip6` (41)
    Ip6(Ipv6Addr),
    /// `ip6zone` (42)
    Ip6zone(String),
    /// `ipcidr` (43)
    Ipcidr(u8),
    /// `dns` (53)
    Dns(String),
    /// `dns4` (54)
    Dns4(String),
    /// `dns6` (55)
    Dns6(String),
    /// `dnsaddr` (56)
    Dnsaddr(String),
    /// `sctp` (132)
    Sctp(u16),
    /// `udt` (301)
    Udt,
    /// `utp` (302)
    Utp,
    /// `unix` (400): a path, percent-encoded in text form.
    Unix(String),
    /// `p2p` (421), also read as `ipfs`.
    P2p(PeerId),
    /// `tls` (448)
    Tls,
    /// `sni` (449)
    Sni(String),
    /// `noise` (454)
    Noise,
    /// `quic` (460), draft-29
    Quic,
    /// `quic-v1` (461)
    QuicV1,
    /// `webtransport` (465)
    WebTransport,
    /// `certhash` (466): a multihash, multibase-encoded in text form.
    Certhash(Vec<u8>),
    /// `http` (480)
    Http,
    /// `http-path` (481), percent-encoded in text form.
    HttpPath(String),
    /// `https` (443)
    Https,
    /// `ws` (477)
    Ws,
    /// `wss` (478)
    Wss,
    /// `p2p-websocket-star` (479)
    P2pWebsocketStar,
    /// `p2p-stardust` (277)
    P2pStardust,
    /// `p2p-webrtc-star` (275)
    P2pWebrtcStar,
    /// `p2p-webrtc-direct` (276)
    P2pWebrtcDirect,
    /// `webrtc-direct` (280)
    WebrtcDirect,
    /// `webrtc` (281)
    Webrtc,
    /// `p2p-circuit` (290)
    P2pCircuit,
    /// `memory` (777): an in-process port.
    Memory(u64),
}

/// Names we recognise but do not implement; parsing them is a clear error.
const UNSUPPORTED: [(&str, u64); 4] = [("onion", 444), ("onion3", 445), ("garlic64", 446), ("garlic32", 447)];

/// The longest variable-size value we accept (a path, a name, a hash).
const MAX_VALUE_LEN: usize = 512;

impl Protocol {
    /// The protocol's code in the table.
    pub fn code(&self) -> u64 {
        match self {
            Protocol::Ip4(_) => 4,
            Protocol::Tcp(_) => 6,
            Protocol::Udp(_) => 273,
            Protocol::Dccp(_) => 33,
            Protocol::Ip6(_) => 41,
            Protocol::Ip6zone(_) => 42,
            Protocol::Ipcidr(_) => 43,
            Protocol::Dns(_) => 53,
            Protocol::Dns4(_) => 54,
            Protocol::Dns6(_) => 55,
            Protocol::Dnsaddr(_) => 56,
            Protocol::Sctp(_) => 132,
            Protocol::Udt => 301,
            Protocol::Utp => 302,
            Protocol::Unix(_) => 400,
            Protocol::P2p(_) => 421,
            Protocol::Tls => 448,
            Protocol::Sni(_) => 449,
            Protocol::Noise => 454,
            Protocol::Quic => 460,
            Protocol::QuicV1 => 461,
            Protocol::WebTransport => 465,
            Protocol::Certhash(_) => 466,
            Protocol::Http => 480,
            Protocol::HttpPath(_) => 481,
            Protocol::Https => 443,
            Protocol::Ws => 477,
            Protocol::Wss => 478,
            Protocol::P2pWebsocketStar => 479,
            Protocol::P2pStardust => 277,
            Protocol::P2pWebrtcStar => 275,
            Protocol::P2pWebrtcDirect => 276,
            Protocol::WebrtcDirect => 280,
            Protocol::Webrtc => 281,
            Protocol::P2pCircuit => 290,
            Protocol::Memory(_) => 777,
        }
    }

    /// The protocol's name in the table.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Ip4(_) => "ip4",
            Protocol::Tcp(_) => "tcp",
            Protocol::Udp(_) => "udp",
            Protocol::Dccp(_) => "dccp",
            Protocol::Ip6(_) => "ip6",
            Protocol::Ip6zone(_) => "ip6zone",
            Protocol::Ipcidr(_) => "ipcidr",
            Protocol::Dns(_) => "dns",
            Protocol::Dns4(_) => "dns4",
            Protocol::Dns6(_) => "dns6",
            Protocol::Dnsaddr(_) => "dnsaddr",
            Protocol::Sctp(_) => "sctp",
            Protocol::Udt => "udt",
            Protocol::Utp => "utp",
            Protocol::Unix(_) => "unix",
            Protocol::P2p(_) => "p2p",
            Protocol::Tls => "tls",
            Protocol::Sni(_) => "sni",
            Protocol::Noise => "noise",
            Protocol::Quic => "quic",
            Protocol::QuicV1 => "quic-v1",
            Protocol::WebTransport => "webtransport",
            Protocol::Certhash(_) => "certhash",
            Protocol::Http => "http",
            Protocol::HttpPath(_) => "http-path",
            Protocol::Https => "https",
            Protocol::Ws => "ws",
            Protocol::Wss => "wss",
            Protocol::P2pWebsocketStar => "p2p-websocket-star",
            Protocol::P2pStardust => "p2p-stardust",
            Protocol::P2pWebrtcStar => "p2p-webrtc-star",
            Protocol::P2pWebrtcDirect => "p2p-webrtc-direct",
            Protocol::WebrtcDirect => "webrtc-direct",
            Protocol::Webrtc => "webrtc",
            Protocol::P2pCircuit => "p2p-circuit",
            Protocol::Memory(_) => "memory",
        }
    }

    /// Checks a value the way text and binary parsing do. Values printed as
    /// they are in text form must not contain `/`, or the text would read
    /// back as other components (`/dns/a/tcp/1` from a name `a/tcp/1`).
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Protocol::Ip6zone(s)
            | Protocol::Dns(s)
            | Protocol::Dns4(s)
            | Protocol::Dns6(s)
            | Protocol::Dnsaddr(s)
            | Protocol::Sni(s)
                if s.contains('/') =>
            {
                Err(Error::SlashInValue(self.name()))
            }
            _ => Ok(()),
        }
    }

    /// The protocols without a value, by name and by code.
    fn unit(name: &str, code: u64) -> Option<Protocol> {
        const UNITS: [(&str, u64, Protocol); 17] = [
            ("udt", 301, Protocol::Udt),
            ("utp", 302, Protocol::Utp),
            ("tls", 448, Protocol::Tls),
            ("noise", 454, Protocol::Noise),
            ("quic", 460, Protocol::Quic),
            ("quic-v1", 461, Protocol::QuicV1),
            ("webtransport", 465, Protocol::WebTransport),
            ("http", 480, Protocol::Http),
            ("https", 443, Protocol::Https),
            ("ws", 477, Protocol::Ws),
            ("wss", 478, Protocol::Wss),
            ("p2p-websocket-star", 479, Protocol::P2pWebsocketStar),
            ("p2p-stardust", 277, Protocol::P2pStardust),
            ("p2p-webrtc-star", 275, Protocol::P2pWebrtcStar),
            ("p2p-webrtc-direct", 276, Protocol::P2pWebrtcDirect),
            ("webrtc-direct", 280, Protocol::WebrtcDirect),
            ("p2p-circuit", 290, Protocol::P2pCircuit),
        ];
        let webrtc = (name == "webrtc" || code == 281).then_some(Protocol::Webrtc);
        UNITS.iter().find(|(n, c, _)| *n == name || *c == code).map(|(_, _, p)| p.clone()).or(webrtc)
    }

    // ---- text ----

    /// Parses one component whose name is `name`, taking its value from `parts`.
    pub(super) fn parse(name: &str, parts: &mut std::iter::Peekable<Split<'_, char>>) -> Result<Protocol, Error> {
        if let Some(unit) = Protocol::unit(name, u64::MAX) {
            return Ok(unit);
        }
        if let Some((known, _)) = UNSUPPORTED.iter().find(|(n, _)| *n == name) {
            return Err(Error::UnsupportedProtocol(known));
        }
        let static_name = Protocol::value_name(name).ok_or_else(|| Error::UnknownProtocol(name.to_string()))?;
        let value = parts.next().ok_or(Error::MissingValue(static_name))?;
        let invalid = |reason| Error::InvalidValue { protocol: static_name, reason };
        let port = || value.parse::<u16>().map_err(|_| invalid("not a port number"));
        let text = || -> Result<String, Error> {
            if value.is_empty() {
                return Err(invalid("empty"));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(invalid("too long"));
            }
            Ok(value.to_string())
        };
        let decoded = || -> Result<String, Error> {
            let s = percent_decode(value).ok_or_else(|| invalid("bad percent-encoding"))?;
            if s.is_empty() || s.len() > MAX_VALUE_LEN {
                return Err(invalid("empty or too long"));
            }
            Ok(s)
        };
        let protocol = match static_name {
            "ip4" => Protocol::Ip4(value.parse().map_err(|_| invalid("not an IPv4 address"))?),
            "ip6" => Protocol::Ip6(value.parse().map_err(|_| invalid("not an IPv6 address"))?),
            "tcp" => Protocol::Tcp(port()?),
            "udp" => Protocol::Udp(port()?),
            "dccp" => Protocol::Dccp(port()?),
            "sctp" => Protocol::Sctp(port()?),
            "ip6zone" => Protocol::Ip6zone(text()?),
            "ipcidr" => Protocol::Ipcidr(value.parse().map_err(|_| invalid("not a mask length"))?),
            "dns" => Protocol::Dns(text()?),
            "dns4" => Protocol::Dns4(text()?),
            "dns6" => Protocol::Dns6(text()?),
            "dnsaddr" => Protocol::Dnsaddr(text()?),
            "sni" => Protocol::Sni(text()?),
            "unix" => Protocol::Unix(decoded()?),
            "http-path" => Protocol::HttpPath(decoded()?),
            "p2p" => Protocol::P2p(value.parse().map_err(|_| invalid("not a peer id"))?),
            "certhash" => {
                Protocol::Certhash(decode_multibase(value).ok_or_else(|| invalid("not a multibase multihash"))?)
            }
            "memory" => Protocol::Memory(value.parse().map_err(|_| invalid("not a u64"))?),
            _ => return Err(Error::UnknownProtocol(name.to_string())),
        };
        protocol.validate()?;
        Ok(protocol)
    }

    /// The table name of a protocol that carries a value (`ipfs` reads as `p2p`).
    fn value_name(name: &str) -> Option<&'static str> {
        const NAMES: [&str; 18] = [
            "ip4",
            "ip6",
            "tcp",
            "udp",
            "dccp",
            "sctp",
            "ip6zone",
            "ipcidr",
            "dns",
            "dns4",
            "dns6",
            "dnsaddr",
            "sni",
            "unix",
            "http-path",
            "p2p",
            "certhash",
            "memory",
        ];
        if name == "ipfs" {
            return Some("p2p");
        }
        NAMES.iter().copied().find(|n| *n == name)
    }

    // ---- binary ----

    /// Appends the binary form (code, then value).
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        varint::encode(self.code(), out);
        let prefixed = |out: &mut Vec<u8>, bytes: &[u8]| {
            varint::encode(bytes.len() as u64, out);
            out.extend_from_slice(bytes);
        };
        match self {
            Protocol::Ip4(ip) => out.extend_from_slice(&ip.octets()),
            Protocol::Ip6(ip) => out.extend_from_slice(&ip.octets()),
            Protocol::Tcp(p) | Protocol::Udp(p) | Protocol::Dccp(p) | Protocol::Sctp(p) => {
                out.extend_from_slice(&p.to_be_bytes())
            }
            Protocol::Ipcidr(mask) => out.push(*mask),
            Protocol::Ip6zone(s)
            | Protocol::Dns(s)
            | Protocol::Dns4(s)
            | Protocol::Dns6(s)
            | Protocol::Dnsaddr(s)
            | Protocol::Sni(s)
            | Protocol::Unix(s)
            | Protocol::HttpPath(s) => prefixed(out, s.as_bytes()),
            Protocol::P2p(peer) => prefixed(out, peer.as_bytes()),
            Protocol::Certhash(hash) => prefixed(out, hash),
            Protocol::Memory(port) => prefixed(out, &port.to_be_bytes()),
            _ => {}
        }
    }

    /// Decodes one component at the start of `input`: the component and the bytes used.
    pub(super) fn decode(input: &[u8]) -> Result<(Protocol, usize), Error> {
        let (code, mut used) = varint::decode(input).map_err(varint_error)?;
        let rest = &input[used..];
        if let Some(unit) = Protocol::unit("", code) {
            return Ok((unit, used));
        }
        if let Some((name, _)) = UNSUPPORTED.iter().find(|(_, c)| *c == code) {
            return Err(Error::UnsupportedProtocol(name));
        }
        let fixed = |n: usize| rest.get(..n).ok_or(Error::Truncated);
        let protocol = match code {
            4 => {
                let b = fixed(4)?;
                used += 4;
                Protocol::Ip4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            41 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(fixed(16)?);
                used += 16;
                Protocol::Ip6(Ipv6Addr::from(octets))
            }
            6 | 273 | 33 | 132 => {
                let b = fixed(2)?;
                used += 2;
                let port = u16::from_be_bytes([b[0], b[1]]);
                match code {
                    6 => Protocol::Tcp(port),
                    273 => Protocol::Udp(port),
                    33 => Protocol::Dccp(port),
                    _ => Protocol::Sctp(port),
                }
            }
            43 => {
                used += 1;
                Protocol::Ipcidr(fixed(1)?[0])
            }
            42 | 53 | 54 | 55 | 56 | 449 | 400 | 481 | 421 | 466 | 777 => {
                let (len, len_used) = varint::decode_usize(rest).map_err(varint_error)?;
                if len > MAX_VALUE_LEN {
                    return Err(Error::InvalidValue { protocol: "value", reason: "too long" });
                }
                let value = rest.get(len_used..len_used + len).ok_or(Error::Truncated)?;
                used += len_used + len;
                let protocol = Protocol::from_value(code, value)?;
                protocol.validate()?;
                protocol
            }
            other => return Err(Error::UnknownProtocol(other.to_string())),
        };
        Ok((protocol, used))
    }

    fn from_value(code: u64, value: &[u8]) -> Result<Protocol, Error> {
        let text = |protocol: &'static str| -> Result<String, Error> {
            if value.is_empty() {
                return Err(Error::InvalidValue { protocol, reason: "empty" });
            }
            String::from_utf8(value.to_vec()).map_err(|_| Error::InvalidValue { protocol, reason: "not UTF-8" })
        };
        Ok(match code {
            42 => Protocol::Ip6zone(text("ip6zone")?),
            53 => Protocol::Dns(text("dns")?),
            54 => Protocol::Dns4(text("dns4")?),
            55 => Protocol::Dns6(text("dns6")?),
            56 => Protocol::Dnsaddr(text("dnsaddr")?),
            449 => Protocol::Sni(text("sni")?),
            400 => Protocol::Unix(text("unix")?),
            481 => Protocol::HttpPath(text("http-path")?),
            421 => Protocol::P2p(
                PeerId::from_bytes(value)
                    .map_err(|_| Error::InvalidValue { protocol: "p2p", reason: "not a peer id" })?,
            ),
            466 => {
                if value.is_empty() {
                    return Err(Error::InvalidValue { protocol: "certhash", reason: "empty" });
                }
                Protocol::Certhash(value.to_vec())
            }
            _ => {
                let bytes: [u8; 8] =
                    value.try_into().map_err(|_| Error::InvalidValue { protocol: "memory", reason: "not 8 bytes" })?;
                Protocol::Memory(u64::from_be_bytes(bytes))
            }
        })
    }
}

fn varint_error(e: varint::VarintError) -> Error {
    match e {
        varint::VarintError::Incomplete => Error::Truncated,
        _ => Error::InvalidVarint,
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.name())?;
        match self {
            Protocol::Ip4(ip) => write!(f, "/{ip}"),
            Protocol::Ip6(ip) => write!(f, "/{ip}"),
            Protocol::Tcp(p) | Protocol::Udp(p) | Protocol::Dccp(p) | Protocol::Sctp(p) => write!(f, "/{p}"),
            Protocol::Ipcidr(mask) => write!(f, "/{mask}"),
            Protocol::Ip6zone(s)
            | Protocol::Dns(s)
            | Protocol::Dns4(s)
            | Protocol::Dns6(s)
            | Protocol::Dnsaddr(s)
            | Protocol::Sni(s) => write!(f, "/{s}"),
            Protocol::Unix(s) | Protocol::HttpPath(s) => write!(f, "/{}", percent_encode(s)),
            Protocol::P2p(peer) => write!(f, "/{peer}"),
            Protocol::Certhash(hash) => {
                write!(f, "/u{}", data_encoding::BASE64URL_NOPAD.encode(hash))
            }
            Protocol::Memory(port) => write!(f, "/{port}"),
            _ => Ok(()),
        }
    }
}

/// Escapes `%` and `/` so that a path fits in one text component.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes the multibase forms certhashes use: base64url (`u`), base58btc
/// (`z`), base32 (`b`) and hex (`f`).
fn decode_multibase(s: &str) -> Option<Vec<u8>> {
    let mut chars = s.chars();
    let base = chars.next()?;
    let rest = chars.as_str();
    let bytes = match base {
        'u' => data_encoding::BASE64URL_NOPAD.decode(rest.as_bytes()).ok()?,
        'U' => data_encoding::BASE64URL.decode(rest.as_bytes()).ok()?,
        'm' => data_encoding::BASE64_NOPAD.decode(rest.as_bytes()).ok()?,
        'z' => bs58::decode(rest).into_vec().ok()?,
        'b' => data_encoding::BASE32_NOPAD.decode(rest.to_ascii_uppercase().as_bytes()).ok()?,
        'f' => data_encoding::HEXLOWER_PERMISSIVE.decode(rest.as_bytes()).ok()?,
        _ => return None,
    };
    (!bytes.is_empty() && bytes.len() <= MAX_VALUE_LEN).then_some(bytes)
}
