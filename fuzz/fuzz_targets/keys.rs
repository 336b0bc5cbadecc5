#![no_main]
//! The key protobufs: `PublicKey` as peers send it, `PrivateKey` as a node
//! loads it. What decodes encodes to bytes that decode to the same key.

use libfuzzer_sys::fuzz_target;
use lp2p::{Keypair, PublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::try_decode_protobuf(data) {
        let encoded = key.encode_protobuf();
        assert_eq!(PublicKey::try_decode_protobuf(&encoded).as_ref(), Ok(&key));
        let _ = key.to_peer_id();
        assert!(!key.verify(b"message", data));
    }
    if let Ok(pair) = Keypair::from_protobuf_encoding(data) {
        let encoded = pair.to_protobuf_encoding();
        let again = Keypair::from_protobuf_encoding(&encoded).expect("our own encoding loads");
        assert_eq!(again.public(), pair.public());
        assert_eq!(pair.public().to_peer_id(), pair.peer_id());
    }
});
