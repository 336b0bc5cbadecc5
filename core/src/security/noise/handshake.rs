//! The libp2p Noise XX handshake as a state machine without I/O: it makes
//! and reads handshake messages (the payload inside, not the 2-byte framing),
//! checks the remote's identity and agrees a muxer from the extension.
//!
//! Initiator: `write` (message 1), `read` (2), `write` (3), `finish`.
//! Responder: `read` (1), `write` (2), `read` (3), `finish`.

use prost::Message;

use super::stream::{CipherState, TransportCiphers};
use super::{NoiseError, crypto, pb};
use crate::identity::{Keypair, PeerId, PublicKey};

/// The Noise protocol name libp2p uses.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_SHA256";
/// What the identity key signs, before the Noise static key.
const STATIC_KEY_DOMAIN: &[u8] = b"noise-libp2p-static-key:";
/// The longest Noise message.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// What the handshake proved about the remote.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The remote's peer ID.
    pub peer: PeerId,
    /// The remote's identity key.
    pub public_key: PublicKey,
    /// The muxer both sides agreed through the extension, if any.
    pub muxer: Option<String>,
    /// Whether the remote listed any muxer in the extension (lp2p, go-libp2p
    /// do; rust-libp2p does not).
    pub offered_muxers: bool,
}

/// A handshake in progress.
pub struct Handshake {
    state: snow::HandshakeState,
    /// Our payload (identity key, signature, extensions), sent once.
    payload: Vec<u8>,
    initiator: bool,
    muxers: Vec<String>,
    expected: Option<PeerId>,
    remote: Option<(PublicKey, Vec<String>)>,
    sent: usize,
    /// Our Noise static public key (what our payload's signature covers).
    static_public: Vec<u8>,
}

impl Handshake {
    /// The dialer's side. `expected` is the peer the address named.
    pub fn initiator(local: &Keypair, expected: Option<PeerId>, muxers: &[String]) -> Result<Handshake, NoiseError> {
        Handshake::new(local, expected, muxers, true)
    }

    /// The listener's side.
    pub fn responder(local: &Keypair, muxers: &[String]) -> Result<Handshake, NoiseError> {
        Handshake::new(local, None, muxers, false)
    }

    fn new(
        local: &Keypair,
        expected: Option<PeerId>,
        muxers: &[String],
        initiator: bool,
    ) -> Result<Handshake, NoiseError> {
        let params: snow::params::NoiseParams = NOISE_PARAMS.parse()?;
        let builder = snow::Builder::with_resolver(params, crypto::resolver());
        let static_key = builder.generate_keypair()?;
        let builder = builder.local_private_key(&static_key.private)?;
        let state = if initiator { builder.build_initiator()? } else { builder.build_responder()? };
        let mut signed = STATIC_KEY_DOMAIN.to_vec();
        signed.extend_from_slice(&static_key.public);
        let payload = pb::NoiseHandshakePayload {
            identity_key: Some(local.public().encode_protobuf()),
            identity_sig: Some(local.sign(&signed).map_err(|_| NoiseError::Signing)?),
            extensions: Some(pb::NoiseExtensions {
                webtransport_certhashes: Vec::new(),
                stream_muxers: muxers.to_vec(),
            }),
        }
        .encode_to_vec();
        Ok(Handshake {
            state,
            payload,
            initiator,
            muxers: muxers.to_vec(),
            expected,
            remote: None,
            sent: 0,
            static_public: static_key.public,
        })
    }

    /// Whether it is our turn to write.
    pub fn is_my_turn(&self) -> bool {
        self.state.is_my_turn()
    }

    /// Whether all three messages are done.
    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    /// Makes our next message.
    pub fn write(&mut self) -> Result<Vec<u8>, NoiseError> {
        // Message 1 carries nothing (it is not encrypted); 2 and 3 carry our payload.
        let payload: &[u8] = if self.sent == 0 && self.initiator { &[] } else { &self.payload };
        let mut out = vec![0u8; MAX_MESSAGE_LEN];
        let n = self.state.write_message(payload, &mut out)?;
        out.truncate(n);
        self.sent += 1;
        Ok(out)
    }

    /// Reads the remote's next message.
    pub fn read(&mut self, message: &[u8]) -> Result<(), NoiseError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLong);
        }
        let mut payload = vec![0u8; MAX_MESSAGE_LEN];
        let n = self.state.read_message(message, &mut payload)?;
        let payload = &payload[..n];
        // Message 1 (read by the responder) has no payload to check.
        if self.state.get_remote_static().is_none() {
            return Ok(());
        }
        let (public_key, remote_muxers) = self.verify_payload(payload)?;
        // Both lists are known now (the initiator learns the responder's in
        // message 2, the responder the initiator's in message 3): a side
        // without a common muxer stops here instead of finishing.
        self.agree_muxer(&remote_muxers)?;
        self.remote = Some((public_key, remote_muxers));
        Ok(())
    }

    /// The muxer of the inlined negotiation: the first of the initiator's
    /// list that the responder has; `None` when a side listed none (then the
    /// muxer is negotiated with multistream-select).
    fn agree_muxer(&self, remote_muxers: &[String]) -> Result<Option<String>, NoiseError> {
        if self.muxers.is_empty() || remote_muxers.is_empty() {
            return Ok(None);
        }
        let (initiator_list, responder_list) =
            if self.initiator { (&self.muxers[..], remote_muxers) } else { (remote_muxers, &self.muxers[..]) };
        match initiator_list.iter().find(|m| responder_list.contains(m)) {
            Some(muxer) => Ok(Some(muxer.clone())),
            None => Err(NoiseError::NoCommonMuxer { local: self.muxers.clone(), remote: remote_muxers.to_vec() }),
        }
    }

    fn verify_payload(&self, payload: &[u8]) -> Result<(PublicKey, Vec<String>), NoiseError> {
        let decoded = pb::NoiseHandshakePayload::decode(payload).map_err(|_| NoiseError::InvalidPayload)?;
        let key_bytes = decoded.identity_key.ok_or(NoiseError::MissingIdentity)?;
        let signature = decoded.identity_sig.ok_or(NoiseError::MissingIdentity)?;
        let public_key = PublicKey::try_decode_protobuf(&key_bytes)?;
        let remote_static = self.state.get_remote_static().ok_or(NoiseError::MissingIdentity)?;
        let mut signed = STATIC_KEY_DOMAIN.to_vec();
        signed.extend_from_slice(remote_static);
        if !public_key.verify(&signed, &signature) {
            return Err(NoiseError::BadSignature);
        }
        let actual = public_key.to_peer_id();
        if let Some(expected) = self.expected
            && expected != actual
        {
            return Err(NoiseError::PeerIdMismatch { expected, actual });
        }
        let muxers = decoded.extensions.map(|e| e.stream_muxers).unwrap_or_default();
        Ok((public_key, muxers))
    }

    /// Ends the handshake: the transport cipher state and what we learned.
    pub fn finish(mut self) -> Result<(TransportCiphers, Remote), NoiseError> {
        let (public_key, remote_muxers) = self.remote.take().ok_or(NoiseError::MissingIdentity)?;
        let muxer = self.agree_muxer(&remote_muxers)?;
        let offered_muxers = !remote_muxers.is_empty();
        if !self.state.is_handshake_finished() {
            return Err(snow::Error::State(snow::error::StateProblem::HandshakeNotFinished).into());
        }
        // The split's first key encrypts the initiator's messages, the second
        // the responder's (Noise spec, section 5.3).
        let (initiator_key, responder_key) = self.state.dangerously_get_raw_split();
        let (send, recv) = if self.initiator { (initiator_key, responder_key) } else { (responder_key, initiator_key) };
        let transport = TransportCiphers { send: CipherState::new(send), recv: CipherState::new(recv) };
        Ok((transport, Remote { peer: public_key.to_peer_id(), public_key, muxer, offered_muxers }))
    }
}

/// Fuzzing hook (through `crate::fuzzing`): a responder whose message 2
/// carries `payload` as its handshake payload, read by an initiator that
/// offers `initiator_muxers`. With `sign`, a payload that decodes gets a
/// valid identity key and signature first, so that the fuzzer reaches what
/// comes after the signature check (the extensions, the muxer agreement).
pub(crate) fn read_responder_payload(
    payload: &[u8],
    sign: bool,
    initiator_muxers: &[String],
) -> Result<Remote, NoiseError> {
    let initiator_key = Keypair::ed25519_from_seed([1; 32]);
    let responder_key = Keypair::ed25519_from_seed([2; 32]);
    let mut initiator = Handshake::initiator(&initiator_key, None, initiator_muxers)?;
    let mut responder = Handshake::responder(&responder_key, &[])?;
    responder.read(&initiator.write()?)?;
    responder.payload = payload.to_vec();
    if sign && let Ok(mut decoded) = pb::NoiseHandshakePayload::decode(payload) {
        let mut signed = STATIC_KEY_DOMAIN.to_vec();
        signed.extend_from_slice(&responder.static_public);
        decoded.identity_key = Some(responder_key.public().encode_protobuf());
        decoded.identity_sig = Some(responder_key.sign(&signed).map_err(|_| NoiseError::Signing)?);
        responder.payload = decoded.encode_to_vec();
    }
    initiator.read(&responder.write()?)?;
    let remote = initiator.remote.clone().ok_or(NoiseError::MissingIdentity)?;
    let muxer = initiator.agree_muxer(&remote.1)?;
    Ok(Remote { peer: remote.0.to_peer_id(), public_key: remote.0, muxer, offered_muxers: !remote.1.is_empty() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn muxers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(
        a: &Keypair,
        b: &Keypair,
        expected: Option<PeerId>,
        a_muxers: &[&str],
        b_muxers: &[&str],
    ) -> Result<(Remote, Remote), NoiseError> {
        let mut i = Handshake::initiator(a, expected, &muxers(a_muxers))?;
        let mut r = Handshake::responder(b, &muxers(b_muxers))?;
        r.read(&i.write()?)?;
        i.read(&r.write()?)?;
        r.read(&i.write()?)?;
        assert!(i.is_finished() && r.is_finished());
        let (_, ri) = i.finish()?;
        let (_, rr) = r.finish()?;
        Ok((ri, rr))
    }

    #[test]
    fn handshake_proves_identities_and_agrees_the_muxer() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_secp256k1();
        let (seen_by_a, seen_by_b) =
            run(&a, &b, Some(b.peer_id()), &["/yamux/1.0.0", "/mplex/6.7.0"], &["/mplex/6.7.0", "/yamux/1.0.0"])
                .expect("handshake");
        assert_eq!(seen_by_a.peer, b.peer_id());
        assert_eq!(seen_by_b.peer, a.peer_id());
        assert_eq!(seen_by_a.muxer.as_deref(), Some("/yamux/1.0.0"));
        assert_eq!(seen_by_b.muxer.as_deref(), Some("/yamux/1.0.0"));
    }

    #[test]
    fn disjoint_muxer_lists_fail_the_handshake() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ecdsa();
        let result = run(&a, &b, None, &["/yamux/1.0.0"], &["/mplex/6.7.0"]);
        assert!(
            matches!(&result, Err(NoiseError::NoCommonMuxer { local, remote })
                if local == &muxers(&["/yamux/1.0.0"]) && remote == &muxers(&["/mplex/6.7.0"])),
            "{:?}",
            result.map(|_| ())
        );
        // The responder fails too, on reading the initiator's list in message 3.
        let mut i = Handshake::initiator(&a, None, &muxers(&["/yamux/1.0.0"])).expect("init");
        let mut r = Handshake::responder(&b, &muxers(&["/mplex/6.7.0"])).expect("init");
        r.read(&i.write().expect("msg1")).expect("read 1");
        let msg2 = r.write().expect("msg2");
        // An honest initiator refuses msg2 already; one that does not check
        // (it keeps no list itself) still sends a list in msg3.
        let mut i_lax = Handshake::initiator(&a, None, &[]).expect("init");
        let mut r2 = Handshake::responder(&b, &muxers(&["/mplex/6.7.0"])).expect("init");
        r2.read(&i_lax.write().expect("msg1")).expect("read 1");
        i_lax.read(&r2.write().expect("msg2")).expect("read 2");
        let mut payload = pb::NoiseHandshakePayload::decode(i_lax.payload.as_slice()).expect("own payload");
        payload.extensions =
            Some(pb::NoiseExtensions { webtransport_certhashes: Vec::new(), stream_muxers: muxers(&["/yamux/1.0.0"]) });
        i_lax.payload = payload.encode_to_vec();
        let msg3 = i_lax.write().expect("msg3");
        assert!(matches!(r2.read(&msg3), Err(NoiseError::NoCommonMuxer { .. })));
        assert!(matches!(i.read(&msg2), Err(NoiseError::NoCommonMuxer { .. })));
    }

    #[test]
    fn no_extension_falls_back() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ecdsa();
        let (x, y) = run(&a, &b, None, &["/yamux/1.0.0"], &[]).expect("handshake");
        assert_eq!((x.muxer, y.muxer), (None, None));
        let (x, y) = run(&a, &b, None, &[], &["/yamux/1.0.0"]).expect("handshake");
        assert_eq!((x.muxer, y.muxer), (None, None));
    }

    #[test]
    fn wrong_expected_peer_is_a_typed_error() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let other = PeerId::random();
        let result = run(&a, &b, Some(other), &[], &[]);
        assert!(matches!(result, Err(NoiseError::PeerIdMismatch { expected, .. }) if expected == other));
    }

    #[test]
    fn tampered_or_garbage_messages_fail() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let mut i = Handshake::initiator(&a, None, &[]).expect("init");
        let mut r = Handshake::responder(&b, &[]).expect("init");
        r.read(&i.write().expect("msg1")).expect("read 1");
        let mut msg2 = r.write().expect("msg2");
        let last = msg2.len() - 1;
        msg2[last] ^= 1;
        assert!(i.read(&msg2).is_err());
        let mut r = Handshake::responder(&b, &[]).expect("init");
        for len in [0, 1, 31, 33, 200] {
            let mut fresh = Handshake::responder(&b, &[]).expect("init");
            let _ = fresh.read(&vec![7u8; len]);
        }
        assert!(r.read(&[1, 2, 3]).is_err());
        assert!(matches!(r.read(&vec![0u8; MAX_MESSAGE_LEN + 1]), Err(NoiseError::MessageTooLong)));
    }

    #[test]
    fn random_and_truncated_payloads_are_typed_errors() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let honest = Handshake::responder(&b, &muxers(&["/yamux/1.0.0"])).expect("init").payload;
        let truncated = (0..honest.len()).map(|cut| honest[..cut].to_vec());
        for payload in truncated.chain(crate::testutil::random_inputs(11, 300, 300)) {
            let mut i = Handshake::initiator(&a, None, &[]).expect("init");
            let mut r = Handshake::responder(&b, &[]).expect("init");
            // The responder sends these bytes, encrypted, as its payload in message 2.
            r.payload = payload;
            r.read(&i.write().expect("msg1")).expect("read 1");
            let result = i.read(&r.write().expect("msg2"));
            assert!(
                matches!(
                    result,
                    Err(NoiseError::InvalidPayload
                        | NoiseError::MissingIdentity
                        | NoiseError::InvalidKey(_)
                        | NoiseError::BadSignature)
                ),
                "{result:?}"
            );
        }
    }
}
