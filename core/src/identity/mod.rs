//! Identities: key pairs, public keys, peer IDs, signed envelopes and peer records.

pub(crate) mod der;
pub mod envelope;
mod keys;
pub mod pb;
mod peer_id;
pub mod record;

pub use keys::{DecodingError, KeyType, Keypair, PublicKey, SigningError};
pub use peer_id::{PeerId, PeerIdError};

impl PeerId {
    /// The peer ID of `key`.
    pub fn from_public_key(key: &PublicKey) -> PeerId {
        key.to_peer_id()
    }

    /// The peer ID of a fresh random Ed25519 key (for tests and examples).
    pub fn random() -> PeerId {
        Keypair::generate_ed25519().public().to_peer_id()
    }
}
