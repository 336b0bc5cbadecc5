#![no_main]
//! Multiaddr bytes: whatever decodes prints to text that parses back to
//! the same address; components and pop agree with the bytes.

use libfuzzer_sys::fuzz_target;
use lp2p::Multiaddr;

fuzz_target!(|data: &[u8]| {
    let Ok(addr) = Multiaddr::from_bytes(data) else { return };
    assert_eq!(addr.as_bytes(), data);
    let printed = addr.to_string();
    let again: Multiaddr = printed.parse().unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
    assert_eq!(again, addr, "printed as {printed:?}");
    let components: Vec<_> = addr.iter().collect();
    assert_eq!(components.iter().cloned().collect::<Multiaddr>(), addr);
    let mut popped = addr.clone();
    let last = popped.pop();
    assert_eq!(last, components.last().cloned());
    assert_eq!(popped.len() + usize::from(last.is_some()), components.len());
});
