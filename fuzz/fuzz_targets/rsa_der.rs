#![no_main]
//! The DER readers of `identity/der.rs`: RSA SubjectPublicKeyInfo (and the
//! RSA public key decoding that uses it), SEC1 and PKCS#8 P-256 keys.

use libfuzzer_sys::fuzz_target;
use lp2p::PublicKey;
use lp2p::fuzzing;
use lp2p::identity::pb;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Some((pkcs1, bits)) = fuzzing::rsa_spki(data) {
        assert!(pkcs1.len() < data.len());
        if let Some(bits) = bits {
            assert!(bits <= pkcs1.len() * 8);
        }
    }
    let _ = fuzzing::rsa_modulus_bits(data);
    // The path a peer's RSA key takes: protobuf type RSA (0), data = SPKI.
    let wrapped = pb::PublicKey { r#type: 0, data: data.to_vec() }.encode_to_vec();
    if let Ok(key) = PublicKey::try_decode_protobuf(&wrapped) {
        assert_eq!(key.encode_protobuf(), wrapped);
    }
    if let Some((scalar, public)) = fuzzing::p256_sec1(data) {
        let point = public.unwrap_or([4; 65]);
        let encoded = fuzzing::p256_sec1_encode(&scalar, &point);
        assert_eq!(fuzzing::p256_sec1(&encoded), Some((scalar, Some(point))));
    }
    if let Some(inner) = fuzzing::pkcs8_inner(data) {
        assert!(inner.len() < data.len());
    }
});
