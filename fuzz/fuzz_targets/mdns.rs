#![no_main]
//! mDNS datagrams as the node reads them from the multicast socket
//! (including the `dnsaddr=` TXT strings of a response).

use libfuzzer_sys::fuzz_target;
use lp2p::Multiaddr;
use lp2p::protocols::mdns::wire::{self, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = wire::decode(data) else { return };
    if let Packet::Response(announcements) = packet {
        assert!(announcements.len() <= wire::MAX_PEERS_PER_PACKET);
        for announcement in announcements {
            assert!(announcement.addrs.len() <= wire::MAX_ADDRS_PER_PEER);
            for addr in announcement.addrs {
                assert_eq!(addr.to_string().parse::<Multiaddr>(), Ok(addr));
            }
        }
    }
});
