#![no_main]
//! The identify message: decoding never panics; what decodes encodes to a
//! message that decodes to the same information.

use libfuzzer_sys::fuzz_target;
use lp2p::protocols::identify;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = identify::decode(data) else { return };
    let again = identify::decode(&identify::encode(&info, None)).expect("our encoding decodes");
    assert_eq!(again.public_key, info.public_key);
    assert_eq!(again.protocol_version, info.protocol_version);
    assert_eq!(again.agent_version, info.agent_version);
    assert_eq!(again.listen_addrs, info.listen_addrs);
    assert_eq!(again.observed_addr, info.observed_addr);
    assert_eq!(again.protocols, info.protocols);
    assert_eq!(again.signed_peer_record, None);
});
