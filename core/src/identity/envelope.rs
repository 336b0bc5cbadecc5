//! Signed envelopes (RFC 0002): a payload, its type, and a signature by the
//! enclosed public key over a domain string, the type and the payload.

use prost::Message;

use super::keys::{DecodingError, Keypair, PublicKey, SigningError};
use super::pb;
use crate::wire::varint;

/// The largest envelope we decode: records are small; this bounds what a
/// peer can make us allocate or verify.
pub const MAX_ENVELOPE_LEN: usize = 64 * 1024;

/// Why an envelope is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_LEN`].
    #[error("envelope too large")]
    TooLarge,
    /// The protobuf is malformed.
    #[error("invalid envelope protobuf")]
    Protobuf,
    /// No public key, or an invalid one.
    #[error("invalid envelope key: {0}")]
    Key(#[from] DecodingError),
    /// The envelope has no public key.
    #[error("envelope has no public key")]
    MissingKey,
    /// The signature does not verify for the expected domain.
    #[error("envelope signature is invalid")]
    BadSignature,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(#[from] SigningError),
}

/// A verified signed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEnvelope {
    public_key: PublicKey,
    payload_type: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// The bytes that are signed: each field prefixed with its varint length.
fn signing_buffer(domain: &str, payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(domain.len() + payload_type.len() + payload.len() + 3 * varint::MAX_LEN);
    for field in [domain.as_bytes(), payload_type, payload] {
        varint::encode(field.len() as u64, &mut buf);
        buf.extend_from_slice(field);
    }
    buf
}

impl SignedEnvelope {
    /// Signs `payload` in `domain` with `keypair`.
    pub fn seal(
        keypair: &Keypair,
        domain: &str,
        payload_type: &[u8],
        payload: Vec<u8>,
    ) -> Result<SignedEnvelope, EnvelopeError> {
        let signature = keypair.sign(&signing_buffer(domain, payload_type, &payload))?;
        Ok(SignedEnvelope { public_key: keypair.public(), payload_type: payload_type.to_vec(), payload, signature })
    }

    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        let key = pb::PublicKey::decode(self.public_key.encode_protobuf().as_slice()).ok();
        pb::Envelope {
            public_key: key,
            payload_type: self.payload_type.clone(),
            payload: self.payload.clone(),
            signature: self.signature.clone(),
        }
        .encode_to_vec()
    }

    /// Decodes an envelope and checks its signature for `domain`.
    pub fn decode_and_verify(bytes: &[u8], domain: &str) -> Result<SignedEnvelope, EnvelopeError> {
        let envelope = SignedEnvelope::decode_unverified(bytes)?;
        envelope.verify(domain)?;
        Ok(envelope)
    }

    /// Decodes an envelope without checking the signature (check it with
    /// [`SignedEnvelope::verify`] before trusting the payload).
    pub fn decode_unverified(bytes: &[u8]) -> Result<SignedEnvelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLarge);
        }
        let msg = pb::Envelope::decode(bytes).map_err(|_| EnvelopeError::Protobuf)?;
        let key = msg.public_key.ok_or(EnvelopeError::MissingKey)?;
        let public_key = PublicKey::try_decode_protobuf(&key.encode_to_vec())?;
        Ok(SignedEnvelope {
            public_key,
            payload_type: msg.payload_type,
            payload: msg.payload,
            signature: msg.signature,
        })
    }

    /// Checks the signature for `domain`.
    pub fn verify(&self, domain: &str) -> Result<(), EnvelopeError> {
        let buf = signing_buffer(domain, &self.payload_type, &self.payload);
        if self.public_key.verify(&buf, &self.signature) { Ok(()) } else { Err(EnvelopeError::BadSignature) }
    }

    /// The signer's key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The payload type.
    pub fn payload_type(&self) -> &[u8] {
        &self.payload_type
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_encode_decode_verify() {
        let key = Keypair::generate_ed25519();
        let envelope = SignedEnvelope::seal(&key, "domain", b"/type", b"payload".to_vec()).expect("seals");
        let bytes = envelope.encode();
        let back = SignedEnvelope::decode_and_verify(&bytes, "domain").expect("verifies");
        assert_eq!(back, envelope);
        assert_eq!(back.payload(), b"payload");
        assert_eq!(back.payload_type(), b"/type");
        assert_eq!(back.public_key(), &key.public());
        assert_eq!(SignedEnvelope::decode_and_verify(&bytes, "other"), Err(EnvelopeError::BadSignature));
    }

    #[test]
    fn tampering_is_detected() {
        let key = Keypair::generate_secp256k1();
        let bytes = SignedEnvelope::seal(&key, "d", b"t", vec![1, 2, 3]).expect("seals").encode();
        let mut failures = 0;
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            if SignedEnvelope::decode_and_verify(&bad, "d").is_err() {
                failures += 1;
            }
        }
        // Every single-bit flip must be rejected (it either breaks the protobuf or the signature).
        assert_eq!(failures, bytes.len());
    }

    #[test]
    fn truncated_oversized_and_random_input() {
        let key = Keypair::generate_ed25519();
        let bytes = SignedEnvelope::seal(&key, "d", b"t", vec![9; 100]).expect("seals").encode();
        for cut in 0..bytes.len() {
            assert!(SignedEnvelope::decode_and_verify(&bytes[..cut], "d").is_err());
        }
        assert_eq!(
            SignedEnvelope::decode_and_verify(&vec![0u8; MAX_ENVELOPE_LEN + 1], "d"),
            Err(EnvelopeError::TooLarge)
        );
        for bytes in crate::testutil::random_inputs(5, 3_000, 200) {
            assert!(SignedEnvelope::decode_and_verify(&bytes, "d").is_err());
        }
    }
}
