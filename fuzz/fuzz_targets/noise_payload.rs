#![no_main]
//! The Noise handshake payload: the protobuf itself (round trip), and the
//! payload as the handshake reads it from a responder's message 2, either
//! as it is or with a valid identity and signature put in, so that the
//! extensions and the inlined muxer negotiation are reached.

use libfuzzer_sys::fuzz_target;
use lp2p::fuzzing;
use lp2p::security::noise::NoiseError;
use lp2p::security::noise::pb::NoiseHandshakePayload;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, payload)) = data.split_first() else { return };
    if let Ok(decoded) = NoiseHandshakePayload::decode(payload) {
        assert_eq!(NoiseHandshakePayload::decode(decoded.encode_to_vec().as_slice()).as_ref(), Ok(&decoded));
    }
    let ours: Vec<String> = match flags >> 1 & 3 {
        0 => Vec::new(),
        1 => vec!["/yamux/1.0.0".into()],
        2 => vec!["/mplex/6.7.0".into(), "/yamux/1.0.0".into()],
        _ => vec!["/mplex/6.7.0".into()],
    };
    let sign = flags & 1 == 1;
    match fuzzing::noise_responder_payload(payload, sign, &ours) {
        Ok(remote) => {
            assert_eq!(remote.peer, remote.public_key.to_peer_id());
            if let Some(muxer) = &remote.muxer {
                assert!(ours.contains(muxer) && remote.offered_muxers);
            } else {
                assert!(ours.is_empty() || !remote.offered_muxers);
            }
        }
        Err(NoiseError::NoCommonMuxer { local, remote }) => {
            assert_eq!(local, ours);
            assert!(!remote.is_empty() && !remote.iter().any(|m| ours.contains(m)));
        }
        Err(_) => {}
    }
});
