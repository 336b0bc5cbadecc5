//! Identity keys.

use std::sync::Arc;

use crate::error::Lp2pError;

/// A node's identity key pair.
#[derive(uniffi::Object)]
pub struct Keypair {
    pub(crate) inner: lp2p::Keypair,
}

#[uniffi::export]
impl Keypair {
    /// A new random Ed25519 key pair.
    #[uniffi::constructor]
    pub fn generate_ed25519() -> Arc<Keypair> {
        Arc::new(Keypair { inner: lp2p::Keypair::generate_ed25519() })
    }

    /// Decodes a key pair from libp2p's protobuf encoding (as written by
    /// `to_protobuf_encoding`, or by rust-libp2p and the C ABI).
    #[uniffi::constructor]
    pub fn from_protobuf_encoding(bytes: Vec<u8>) -> Result<Arc<Keypair>, Lp2pError> {
        match lp2p::Keypair::from_protobuf_encoding(&bytes) {
            Ok(inner) => Ok(Arc::new(Keypair { inner })),
            Err(e) => Err(Lp2pError::InvalidKey(format!("key bytes did not decode: {e}"))),
        }
    }

    /// The private key in libp2p's protobuf encoding: keep it secret.
    pub fn to_protobuf_encoding(&self) -> Vec<u8> {
        self.inner.to_protobuf_encoding()
    }

    /// The public key in libp2p's protobuf encoding.
    pub fn public_key(&self) -> Vec<u8> {
        self.inner.public().encode_protobuf()
    }

    /// The peer ID of this key (base58).
    pub fn peer_id(&self) -> String {
        self.inner.peer_id().to_string()
    }
}
