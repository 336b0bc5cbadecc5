#![no_main]
//! Signed envelopes: decoding without and with verification never panics;
//! what decodes encodes to bytes that decode to the same envelope.

use libfuzzer_sys::fuzz_target;
use lp2p::identity::envelope::SignedEnvelope;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = SignedEnvelope::decode_unverified(data) else { return };
    let again = SignedEnvelope::decode_unverified(&envelope.encode()).expect("our encoding decodes");
    assert_eq!(again, envelope);
    for domain in ["libp2p-peer-record", "libp2p-routing-record"] {
        let verified = SignedEnvelope::decode_and_verify(data, domain);
        assert_eq!(verified.is_ok(), envelope.verify(domain).is_ok());
    }
});
