//! The cryptography snow runs on: ring for ChaCha20-Poly1305, SHA-256 and
//! randomness (snow's ring resolver), x25519-dalek for the Diffie-Hellman
//! step (ring has no static X25519).

use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, FallbackResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};

/// The resolver the handshake uses.
pub fn resolver() -> snow::resolvers::BoxedCryptoResolver {
    Box::new(FallbackResolver::new(Box::new(DhResolver), Box::new(RingResolver)))
}

/// Resolves only X25519; everything else falls through to ring.
struct DhResolver;

impl CryptoResolver for DhResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        None
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        matches!(choice, DHChoice::Curve25519).then(|| Box::new(X25519::default()) as Box<dyn Dh>)
    }

    fn resolve_hash(&self, _choice: &HashChoice) -> Option<Box<dyn Hash>> {
        None
    }

    fn resolve_cipher(&self, _choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        None
    }
}

/// An X25519 key for snow.
#[derive(Default)]
struct X25519 {
    private: [u8; 32],
    public: [u8; 32],
}

impl Drop for X25519 {
    fn drop(&mut self) {
        // Do not leave the secret in freed memory.
        self.private = [0; 32];
    }
}

impl Dh for X25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, private: &[u8]) {
        let mut key = [0u8; 32];
        let n = private.len().min(32);
        key[..n].copy_from_slice(&private[..n]);
        let secret = x25519_dalek::StaticSecret::from(key);
        self.public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        self.private = key;
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        let mut key = [0u8; 32];
        rng.try_fill_bytes(&mut key)?;
        self.set(&key);
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.private
    }

    fn dh(&self, public: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        // snow hands over buffers of its largest DH size; the key is the first 32 bytes.
        let public: [u8; 32] = public.get(..32).and_then(|p| p.try_into().ok()).ok_or(snow::Error::Dh)?;
        let shared =
            x25519_dalek::StaticSecret::from(self.private).diffie_hellman(&x25519_dalek::PublicKey::from(public));
        // A low-order remote key gives an all-zero secret: refuse it.
        if !shared.was_contributory() {
            return Err(snow::Error::Dh);
        }
        out.get_mut(..32).ok_or(snow::Error::Dh)?.copy_from_slice(shared.as_bytes());
        Ok(())
    }
}
