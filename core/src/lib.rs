//! lp2p: a libp2p implementation.
//!
//! The crate is layered as the project's design describes: `wire` and
//! `multiaddr` at the bottom; identities; the protocol state machines
//! (multistream-select in [`negotiate`], Noise in [`security`], yamux in
//! [`muxer`], ping and identify in [`protocols`]); the transports; the
//! [`swarm`] that composes them; and on top the [`Node`] facade.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lp2p::Error> {
//! let node = lp2p::Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build()?;
//! println!("listening on {:?}", node.listen_addrs_with_peer_id());
//! let peer = node.dial("/ip4/127.0.0.1/tcp/4001".parse()?).await?;
//! println!("ping {:?}", node.ping(peer).await?);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod connmgr;
pub mod identity;
pub mod multiaddr;
pub mod muxer;
pub mod negotiate;
pub mod node;
pub mod peerstore;
pub mod protocols;
pub mod rcmgr;
pub mod security;
pub mod swarm;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod testutil;

/// Entry points for the fuzz targets (`fuzz/`) into decoders that are not
/// public API. Not for applications: no stability promise.
#[doc(hidden)]
pub mod fuzzing {
    use crate::security::noise::{NoiseError, Remote};

    /// The RSA SubjectPublicKeyInfo reader: the PKCS#1 key and its modulus size.
    pub fn rsa_spki(spki: &[u8]) -> Option<(Vec<u8>, Option<usize>)> {
        let pkcs1 = crate::identity::der::rsa_spki_to_pkcs1(spki)?;
        let bits = crate::identity::der::rsa_modulus_bits(&pkcs1);
        Some((pkcs1, bits))
    }

    /// The modulus size of a PKCS#1 RSAPublicKey.
    pub fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
        crate::identity::der::rsa_modulus_bits(pkcs1)
    }

    /// The SEC1 P-256 private key reader: the scalar and the public point.
    pub fn p256_sec1(sec1: &[u8]) -> Option<([u8; 32], Option<[u8; 65]>)> {
        crate::identity::der::p256_sec1_parse(sec1)
    }

    /// The SEC1 encoder, for round trips.
    pub fn p256_sec1_encode(scalar: &[u8; 32], public: &[u8]) -> Vec<u8> {
        crate::identity::der::p256_sec1(scalar, public)
    }

    /// The SEC1 key inside a PKCS#8 document.
    pub fn pkcs8_inner(pkcs8: &[u8]) -> Option<&[u8]> {
        crate::identity::der::pkcs8_inner_private_key(pkcs8)
    }

    /// A Noise handshake whose responder sends `payload` in message 2, read
    /// by an initiator offering `initiator_muxers`; `sign` gives a payload
    /// that decodes a valid identity and signature first.
    pub fn noise_responder_payload(
        payload: &[u8],
        sign: bool,
        initiator_muxers: &[String],
    ) -> Result<Remote, NoiseError> {
        crate::security::noise::handshake::read_responder_payload(payload, sign, initiator_muxers)
    }
}

pub use identity::{Keypair, PeerId, PublicKey};
pub use multiaddr::{Multiaddr, Protocol};
pub use node::{Error, Events, Node, NodeBuilder, Stream};
pub use peerstore::PeerInfo;
pub use swarm::{Config, ConnectionId, Event};
