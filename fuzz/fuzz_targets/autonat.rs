#![no_main]
//! The AutoNAT v2 messages: what decodes encodes to bytes that decode the
//! same; the dial-back messages never panic.

use libfuzzer_sys::fuzz_target;
use lp2p::protocols::autonat::codec::{self, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
    if let Ok(nonce) = codec::decode_dial_back(data) {
        assert_eq!(codec::decode_dial_back(&codec::encode_dial_back(nonce)), Ok(nonce));
    }
    let _ = codec::decode_dial_back_response(data);
});
