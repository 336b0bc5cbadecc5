#![no_main]
//! Rendezvous messages: what decodes encodes to bytes that decode the same,
//! and the client's readings of answers (and cookies) never panic.

use libfuzzer_sys::fuzz_target;
use lp2p::protocols::rendezvous::Message;
use lp2p::protocols::rendezvous::client::{self, Cookie};

fuzz_target!(|data: &[u8]| {
    let _ = Cookie::from_bytes(data.to_vec());
    let Ok(message) = Message::decode(data) else { return };
    assert_eq!(Message::decode(&message.encode()).as_ref(), Ok(&message));
    let _ = client::register_response(message.clone());
    let _ = client::discover_response(message.clone(), None);
    let _ = client::discover_response(message, Some("ns"));
});
