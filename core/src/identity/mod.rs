//! Identities: key pairs, public keys, peer IDs, signed envelopes and peer records.

mod peer_id;

pub use peer_id::{PeerId, PeerIdError};
