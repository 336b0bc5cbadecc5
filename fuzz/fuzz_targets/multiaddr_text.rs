#![no_main]
//! Multiaddr text: whatever parses prints to text that parses back to the
//! same address, and its binary form decodes to it too.

use libfuzzer_sys::fuzz_target;
use lp2p::Multiaddr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(addr) = text.parse::<Multiaddr>() else { return };
    let printed = addr.to_string();
    let again: Multiaddr = printed.parse().unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
    assert_eq!(again, addr, "{text:?} printed as {printed:?}");
    assert_eq!(Multiaddr::from_bytes(addr.as_bytes()), Ok(addr.clone()));
    let components: Vec<_> = addr.iter().collect();
    assert_eq!(components.len(), addr.len());
    assert_eq!(components.into_iter().collect::<Multiaddr>(), addr);
});
