#![no_main]
//! Peer IDs from bytes and from text (base58 and CIDv1): round trips
//! through every form.

use libfuzzer_sys::fuzz_target;
use lp2p::PeerId;

fn check(id: PeerId) {
    assert_eq!(PeerId::from_bytes(id.as_bytes()), Ok(id));
    assert_eq!(id.to_base58().parse::<PeerId>(), Ok(id));
    assert_eq!(id.to_cid_string().parse::<PeerId>(), Ok(id));
    assert_eq!(id.to_string().parse::<PeerId>(), Ok(id));
    if let Some(key) = id.inlined_public_key() {
        assert!(key.len() <= 42);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = PeerId::from_bytes(data) {
        assert_eq!(id.as_bytes(), data);
        check(id);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(id) = text.parse::<PeerId>()
    {
        check(id);
    }
});
