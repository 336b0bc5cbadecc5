#![no_main]
//! Peer records: the input is tried as envelope bytes (as identify and
//! rendezvous receive them) and, to get past the signature, as the payload
//! of an envelope sealed by a fixed key. A record that reads seals and
//! reads back the same.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lp2p::Keypair;
use lp2p::identity::envelope::SignedEnvelope;
use lp2p::identity::record::{self, PeerRecord};

fn key() -> &'static Keypair {
    static KEY: OnceLock<Keypair> = OnceLock::new();
    KEY.get_or_init(|| Keypair::ed25519_from_seed([7; 32]))
}

fn check(record: &PeerRecord) {
    let key = key();
    if record.peer_id != key.peer_id() {
        return;
    }
    let sealed = record.to_signed_envelope(key).expect("sealing with our key works");
    let (back, _) = PeerRecord::from_envelope_bytes(&sealed.encode()).expect("our record reads back");
    assert_eq!(&back, record);
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, payload)) = data.split_first() else { return };
    if let Ok((record, _)) = PeerRecord::from_envelope_bytes(data) {
        check(&record);
    }
    let (domain, payload_type) = if form & 1 == 0 {
        (record::DOMAIN, record::PAYLOAD_TYPE)
    } else {
        (record::LEGACY_DOMAIN, record::LEGACY_PAYLOAD_TYPE)
    };
    let Ok(envelope) = SignedEnvelope::seal(key(), domain, payload_type, payload.to_vec()) else { return };
    if let Ok(record) = PeerRecord::from_signed_envelope(&envelope) {
        check(&record);
    }
});
