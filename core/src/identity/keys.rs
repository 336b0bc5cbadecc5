//! Key pairs and public keys of the four libp2p key types, with the
//! protobuf encodings of the peer-ids spec.
//!
//! Ed25519 and ECDSA P-256 use ring; secp256k1 uses k256. RSA keys can be
//! verified (ring, 2048 to 8192 bits; larger keys are refused, as
//! CVE-2023-39533 teaches) but not used to sign.

use std::fmt;
use std::sync::Arc;

use prost::Message;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self as sig, KeyPair as _};

use super::PeerId;
use super::der;
use super::pb;

pub use pb::KeyType;

/// Why bytes are not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodingError {
    /// The protobuf is malformed.
    #[error("invalid key protobuf")]
    Protobuf,
    /// The key type number is not one of the four.
    #[error("unknown key type {0}")]
    UnknownKeyType(i32),
    /// The key bytes are malformed for their type.
    #[error("invalid {0:?} key")]
    InvalidKey(KeyType),
    /// An RSA key outside 2048..=8192 bits.
    #[error("RSA key of {0} bits is outside 2048..=8192")]
    RsaKeySize(usize),
    /// We cannot hold this kind of private key.
    #[error("{0:?} private keys are not supported")]
    UnsupportedPrivateKey(KeyType),
}

/// Why signing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The crypto library failed.
    #[error("signing failed")]
    Failed,
}

/// The largest RSA modulus we accept.
const MAX_RSA_BITS: usize = 8192;
/// The smallest RSA modulus we accept.
const MIN_RSA_BITS: usize = 2048;

// DER prefix of an ECDSA P-256 SubjectPublicKeyInfo, before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A public key of any supported type.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// 32 bytes.
    Ed25519([u8; 32]),
    /// Compressed SEC1 point, 33 bytes.
    Secp256k1([u8; 33]),
    /// Uncompressed P-256 point, 65 bytes.
    Ecdsa([u8; 65]),
    /// The DER SubjectPublicKeyInfo and, inside it, the RSAPublicKey.
    Rsa {
        /// SubjectPublicKeyInfo DER (the wire encoding).
        spki: Vec<u8>,
        /// PKCS#1 RSAPublicKey DER (what ring verifies with).
        pkcs1: Vec<u8>,
    },
}

impl PublicKey {
    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Ed25519(_) => KeyType::Ed25519,
            PublicKey::Secp256k1(_) => KeyType::Secp256k1,
            PublicKey::Ecdsa(_) => KeyType::Ecdsa,
            PublicKey::Rsa { .. } => KeyType::Rsa,
        }
    }

    /// Checks `signature` over `msg` by the rules of the key's type.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(key) => sig::UnparsedPublicKey::new(&sig::ED25519, key).verify(msg, signature).is_ok(),
            PublicKey::Ecdsa(point) => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_ASN1, point).verify(msg, signature).is_ok()
            }
            PublicKey::Rsa { pkcs1, .. } => {
                sig::UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, pkcs1).verify(msg, signature).is_ok()
            }
            PublicKey::Secp256k1(point) => verify_secp256k1(point, msg, signature),
        }
    }

    /// The key's bytes in its type's encoding (the protobuf `Data` field).
    fn data(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(key) => key.to_vec(),
            PublicKey::Secp256k1(point) => point.to_vec(),
            PublicKey::Ecdsa(point) => [&P256_SPKI_PREFIX[..], &point[..]].concat(),
            PublicKey::Rsa { spki, .. } => spki.clone(),
        }
    }

    /// The protobuf encoding (deterministic: type, then data).
    pub fn encode_protobuf(&self) -> Vec<u8> {
        pb::PublicKey { r#type: self.key_type() as i32, data: self.data() }.encode_to_vec()
    }

    /// Decodes the protobuf encoding.
    pub fn try_decode_protobuf(bytes: &[u8]) -> Result<PublicKey, DecodingError> {
        let msg = pb::PublicKey::decode(bytes).map_err(|_| DecodingError::Protobuf)?;
        let key_type = KeyType::try_from(msg.r#type).map_err(|_| DecodingError::UnknownKeyType(msg.r#type))?;
        PublicKey::from_data(key_type, &msg.data)
    }

    fn from_data(key_type: KeyType, data: &[u8]) -> Result<PublicKey, DecodingError> {
        let invalid = DecodingError::InvalidKey(key_type);
        match key_type {
            KeyType::Ed25519 => Ok(PublicKey::Ed25519(data.try_into().map_err(|_| invalid)?)),
            KeyType::Secp256k1 => {
                let point: [u8; 33] = data.try_into().map_err(|_| invalid.clone())?;
                // The spec's encoding is the compressed point: tag 2 or 3.
                if point[0] != 2 && point[0] != 3 {
                    return Err(invalid);
                }
                k256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| invalid)?;
                Ok(PublicKey::Secp256k1(point))
            }
            KeyType::Ecdsa => {
                let point = data.strip_prefix(&P256_SPKI_PREFIX[..]).ok_or(invalid.clone())?;
                Ok(PublicKey::Ecdsa(point.try_into().map_err(|_| invalid)?))
            }
            KeyType::Rsa => {
                let pkcs1 = der::rsa_spki_to_pkcs1(data).ok_or(invalid)?;
                let bits = der::rsa_modulus_bits(&pkcs1).ok_or(DecodingError::InvalidKey(KeyType::Rsa))?;
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(DecodingError::RsaKeySize(bits));
                }
                Ok(PublicKey::Rsa { spki: data.to_vec(), pkcs1 })
            }
        }
    }

    /// The peer ID of this key.
    pub fn to_peer_id(&self) -> PeerId {
        PeerId::from_encoded_public_key(&self.encode_protobuf())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?}, {})", self.key_type(), self.to_peer_id())
    }
}

fn verify_secp256k1(point: &[u8; 33], msg: &[u8], signature: &[u8]) -> bool {
    use k256::ecdsa::signature::Verifier;
    let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(point) else { return false };
    let Ok(parsed) = k256::ecdsa::Signature::from_der(signature) else { return false };
    // Bitcoin-style signers may produce high-S signatures; accept both forms.
    let parsed = parsed.normalize_s().unwrap_or(parsed);
    key.verify(msg, &parsed).is_ok()
}

/// A key pair that can sign: Ed25519, ECDSA P-256 or secp256k1.
#[derive(Clone)]
pub struct Keypair {
    inner: KeypairInner,
}

#[derive(Clone)]
enum KeypairInner {
    Ed25519 { seed: [u8; 32], pair: Arc<sig::Ed25519KeyPair> },
    Ecdsa { scalar: [u8; 32], pair: Arc<sig::EcdsaKeyPair> },
    Secp256k1(k256::ecdsa::SigningKey),
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?}, {})", self.key_type(), self.public().to_peer_id())
    }
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // The OS random source failing is unrecoverable for key generation.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        panic!("the operating system's random number generator failed");
    }
    bytes
}

impl Keypair {
    /// A fresh Ed25519 key pair.
    pub fn generate_ed25519() -> Keypair {
        Keypair::ed25519_from_seed(random_32())
    }

    /// The Ed25519 key pair of a 32-byte seed (the private key).
    pub fn ed25519_from_seed(seed: [u8; 32]) -> Keypair {
        // Every 32-byte string is a valid Ed25519 seed, so this cannot fail.
        let pair = match sig::Ed25519KeyPair::from_seed_unchecked(&seed) {
            Ok(pair) => pair,
            Err(_) => unreachable!("any 32 bytes are an Ed25519 seed"),
        };
        Keypair { inner: KeypairInner::Ed25519 { seed, pair: Arc::new(pair) } }
    }

    /// A fresh ECDSA P-256 key pair.
    pub fn generate_ecdsa() -> Keypair {
        let alg = &sig::ECDSA_P256_SHA256_ASN1_SIGNING;
        let rng = SystemRandom::new();
        // ring keeps the scalar private; it is read back from the PKCS#8
        // document ring made, so that the key can be saved.
        let parts = sig::EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .ok()
            .and_then(|doc| der::pkcs8_inner_private_key(doc.as_ref()).and_then(der::p256_sec1_parse));
        match parts {
            Some((scalar, Some(public))) => match Keypair::ecdsa_from_parts(scalar, &public) {
                Ok(pair) => pair,
                Err(_) => panic!("ring generated an inconsistent ECDSA key"),
            },
            _ => panic!("ring's ECDSA key generation failed"),
        }
    }

    fn ecdsa_from_parts(scalar: [u8; 32], public: &[u8; 65]) -> Result<Keypair, DecodingError> {
        let alg = &sig::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pair = sig::EcdsaKeyPair::from_private_key_and_public_key(alg, &scalar, public, &SystemRandom::new())
            .map_err(|_| DecodingError::InvalidKey(KeyType::Ecdsa))?;
        Ok(Keypair { inner: KeypairInner::Ecdsa { scalar, pair: Arc::new(pair) } })
    }

    /// A fresh secp256k1 key pair.
    pub fn generate_secp256k1() -> Keypair {
        loop {
            if let Ok(key) = k256::ecdsa::SigningKey::from_slice(&random_32()) {
                return Keypair { inner: KeypairInner::Secp256k1(key) };
            }
        }
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            KeypairInner::Ed25519 { .. } => KeyType::Ed25519,
            KeypairInner::Ecdsa { .. } => KeyType::Ecdsa,
            KeypairInner::Secp256k1(_) => KeyType::Secp256k1,
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        match &self.inner {
            KeypairInner::Ed25519 { pair, .. } => {
                let mut key = [0u8; 32];
                key.copy_from_slice(pair.public_key().as_ref());
                PublicKey::Ed25519(key)
            }
            KeypairInner::Ecdsa { pair, .. } => {
                let mut point = [0u8; 65];
                point.copy_from_slice(pair.public_key().as_ref());
                PublicKey::Ecdsa(point)
            }
            KeypairInner::Secp256k1(key) => {
                let encoded = key.verifying_key().to_encoded_point(true);
                let mut point = [0u8; 33];
                point.copy_from_slice(encoded.as_bytes());
                PublicKey::Secp256k1(point)
            }
        }
    }

    /// Our peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.public().to_peer_id()
    }

    /// Signs `msg` by the rules of the key's type (ECDSA and secp256k1 sign
    /// the SHA-256 of the message, DER-encoded).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.inner {
            KeypairInner::Ed25519 { pair, .. } => Ok(pair.sign(msg).as_ref().to_vec()),
            KeypairInner::Ecdsa { pair, .. } => {
                pair.sign(&SystemRandom::new(), msg).map(|s| s.as_ref().to_vec()).map_err(|_| SigningError::Failed)
            }
            KeypairInner::Secp256k1(key) => {
                use k256::ecdsa::signature::Signer;
                let signature: k256::ecdsa::Signature = key.try_sign(msg).map_err(|_| SigningError::Failed)?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }

    /// The protobuf `PrivateKey` encoding, for saving the key.
    pub fn to_protobuf_encoding(&self) -> Vec<u8> {
        let data = match &self.inner {
            KeypairInner::Ed25519 { seed, pair } => [&seed[..], pair.public_key().as_ref()].concat(),
            KeypairInner::Ecdsa { scalar, pair } => der::p256_sec1(scalar, pair.public_key().as_ref()),
            KeypairInner::Secp256k1(key) => key.to_bytes().to_vec(),
        };
        pb::PrivateKey { r#type: self.key_type() as i32, data }.encode_to_vec()
    }

    /// Loads a key saved with [`Keypair::to_protobuf_encoding`] (or by another
    /// libp2p implementation).
    pub fn from_protobuf_encoding(bytes: &[u8]) -> Result<Keypair, DecodingError> {
        let msg = pb::PrivateKey::decode(bytes).map_err(|_| DecodingError::Protobuf)?;
        let key_type = KeyType::try_from(msg.r#type).map_err(|_| DecodingError::UnknownKeyType(msg.r#type))?;
        let invalid = DecodingError::InvalidKey(key_type);
        let data = msg.data.as_slice();
        match key_type {
            KeyType::Ed25519 => {
                // 64 bytes (seed, public) or the older 96 (seed, public, public).
                if data.len() != 64 && data.len() != 96 {
                    return Err(invalid);
                }
                if data.len() == 96 && data[32..64] != data[64..96] {
                    return Err(invalid);
                }
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&data[..32]);
                let pair = Keypair::ed25519_from_seed(seed);
                match pair.public() {
                    PublicKey::Ed25519(public) if public[..] == data[32..64] => Ok(pair),
                    _ => Err(invalid),
                }
            }
            KeyType::Ecdsa => {
                // ring needs the public point, which libp2p's SEC1 encoding carries.
                let (scalar, public) = der::p256_sec1_parse(data).ok_or(invalid.clone())?;
                Keypair::ecdsa_from_parts(scalar, &public.ok_or(invalid)?)
            }
            KeyType::Secp256k1 => {
                let key = k256::ecdsa::SigningKey::from_slice(data).map_err(|_| invalid)?;
                Ok(Keypair { inner: KeypairInner::Secp256k1(key) })
            }
            KeyType::Rsa => Err(DecodingError::UnsupportedPrivateKey(KeyType::Rsa)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).expect("test hex")
    }

    // Test vectors of the peer-ids spec: private key, and the public key it must produce.
    const VECTORS: [(&str, &str); 3] = [
        (
            "08031279307702010104203E5B1FE9712E6C314942A750BD67485DE3C1EFE85B1BFB520AE8F9AE3DFA4A4CA00A06082A8648CE3D030107A14403420004DE3D300FA36AE0E8F5D530899D83ABAB44ABF3161F162A4BC901D8E6ECDA020E8B6D5F8DA30525E71D6851510C098E5C47C646A597FB4DCEC034E9F77C409E62",
            "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e62",
        ),
        (
            "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e",
            "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e",
        ),
        (
            "0802122053DADF1D5A164D6B4ACDB15E24AA4C5B1D3461BDBD42ABEDB0A4404D56CED8FB",
            "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99",
        ),
    ];

    pub(crate) const RSA_PUBLIC: &str = include_str!("testdata/rsa_public.hex");

    #[test]
    fn spec_vectors_private_keys_produce_their_public_keys() {
        for (private, public) in VECTORS {
            let pair = Keypair::from_protobuf_encoding(&hex(private)).expect("private vector loads");
            assert_eq!(pair.public().encode_protobuf(), hex(public));
            let decoded = PublicKey::try_decode_protobuf(&hex(public)).expect("public vector decodes");
            assert_eq!(decoded, pair.public());
            // The private encoding round-trips byte for byte.
            assert_eq!(pair.to_protobuf_encoding(), hex(private));
        }
    }

    #[test]
    fn spec_vector_rsa_public_key() {
        let bytes = hex(RSA_PUBLIC.trim());
        let key = PublicKey::try_decode_protobuf(&bytes).expect("rsa vector decodes");
        assert_eq!(key.key_type(), KeyType::Rsa);
        assert_eq!(key.encode_protobuf(), bytes);
        // Keys over 42 bytes are hashed into the peer ID.
        assert!(key.to_peer_id().to_base58().starts_with("Qm"));
        let private = hex("0800120100");
        assert_eq!(
            Keypair::from_protobuf_encoding(&private).err(),
            Some(DecodingError::UnsupportedPrivateKey(KeyType::Rsa))
        );
    }

    #[test]
    fn ed25519_peer_id_vector() {
        let key = PublicKey::try_decode_protobuf(&hex(VECTORS[1].1)).expect("decodes");
        // Ed25519 keys are inlined with the identity multihash: 12D3KooW...
        let id = key.to_peer_id();
        assert!(id.to_base58().starts_with("12D3KooW"), "{id}");
        assert_eq!(id.inlined_public_key(), Some(&hex(VECTORS[1].1)[..]));
    }

    #[test]
    fn sign_and_verify_every_type() {
        for pair in [Keypair::generate_ed25519(), Keypair::generate_ecdsa(), Keypair::generate_secp256k1()] {
            let signature = pair.sign(b"message").expect("signs");
            let public = pair.public();
            assert!(public.verify(b"message", &signature), "{:?}", pair.key_type());
            assert!(!public.verify(b"other", &signature), "{:?}", pair.key_type());
            assert!(!public.verify(b"message", &signature[1..]), "{:?}", pair.key_type());
            let loaded = Keypair::from_protobuf_encoding(&pair.to_protobuf_encoding()).expect("round trip");
            assert_eq!(loaded.public(), public);
            let decoded = PublicKey::try_decode_protobuf(&public.encode_protobuf()).expect("decodes");
            assert_eq!(decoded, public);
        }
    }

    #[test]
    fn ed25519_seed_is_deterministic() {
        let a = Keypair::ed25519_from_seed([7; 32]);
        let b = Keypair::ed25519_from_seed([7; 32]);
        assert_eq!(a.public(), b.public());
        assert_eq!(a.sign(b"x").ok(), b.sign(b"x").ok());
    }

    #[test]
    fn legacy_96_byte_ed25519_private_key() {
        let pair = Keypair::ed25519_from_seed([9; 32]);
        let PublicKey::Ed25519(public) = pair.public() else { panic!("ed25519") };
        let data = [&[9u8; 32][..], &public, &public].concat();
        let encoded = pb::PrivateKey { r#type: 1, data: data.clone() }.encode_to_vec();
        assert_eq!(Keypair::from_protobuf_encoding(&encoded).map(|k| k.public()).ok(), Some(pair.public()));
        let mut bad = data;
        bad[95] ^= 1;
        let encoded = pb::PrivateKey { r#type: 1, data: bad }.encode_to_vec();
        assert!(Keypair::from_protobuf_encoding(&encoded).is_err());
    }

    #[test]
    fn oversized_rsa_keys_are_refused() {
        // A syntactically valid SPKI with a 9000-bit modulus.
        let spki = der::test_rsa_spki(9000 / 8);
        let encoded = pb::PublicKey { r#type: 0, data: spki }.encode_to_vec();
        assert_eq!(PublicKey::try_decode_protobuf(&encoded), Err(DecodingError::RsaKeySize(9000)));
        let small = der::test_rsa_spki(128);
        let encoded = pb::PublicKey { r#type: 0, data: small }.encode_to_vec();
        assert_eq!(PublicKey::try_decode_protobuf(&encoded), Err(DecodingError::RsaKeySize(1024)));
    }

    #[test]
    fn bad_key_bytes_give_typed_errors() {
        assert_eq!(PublicKey::try_decode_protobuf(&[0x08, 0x09, 0x12, 0x00]), Err(DecodingError::UnknownKeyType(9)));
        assert_eq!(
            PublicKey::try_decode_protobuf(&[0x08, 0x01, 0x12, 0x01, 0x00]),
            Err(DecodingError::InvalidKey(KeyType::Ed25519))
        );
        assert_eq!(PublicKey::try_decode_protobuf(&[0x08, 0x01, 0x12, 0x20]), Err(DecodingError::Protobuf));
        let mut point = vec![2u8; 33];
        point[0] = 0x07; // not a SEC1 point tag
        let secp_off_curve = pb::PublicKey { r#type: 2, data: point }.encode_to_vec();
        assert!(PublicKey::try_decode_protobuf(&secp_off_curve).is_err());
        for (private, public) in VECTORS {
            for bytes in [hex(private), hex(public)] {
                for cut in 0..bytes.len() {
                    assert!(PublicKey::try_decode_protobuf(&bytes[..cut]).is_err() || cut == 0);
                    let _ = Keypair::from_protobuf_encoding(&bytes[..cut]);
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        for mut bytes in crate::testutil::random_inputs(0x1234_abcd, 5_000, 120) {
            // Mostly a valid key-type field, so that the key decoders are reached.
            if bytes.len() > 2 {
                bytes[0] = 0x08;
                bytes[1] %= 4;
            }
            let _ = PublicKey::try_decode_protobuf(&bytes);
            let _ = Keypair::from_protobuf_encoding(&bytes);
        }
    }
}
