#![no_main]
//! Kademlia messages: requests as a server reads them, responses as a
//! querying node reads them (for a request type and key the input picks).
//! What decodes encodes to bytes that decode the same.

use libfuzzer_sys::fuzz_target;
use lp2p::protocols::kad::pb;
use lp2p::protocols::kad::protocol::{self, Response};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let _ = pb::Message::decode(data);
    if let Ok(request) = protocol::decode_request(data) {
        let again = protocol::decode_request(&protocol::encode_request(&request)).expect("our encoding decodes");
        assert_eq!(again, request);
        assert!(again.key().len() <= data.len());
    }
    let Some((&kind, rest)) = data.split_first() else { return };
    let kind = i32::from(kind % 6);
    let key_len = usize::from(rest.first().copied().unwrap_or(0) % 40).min(rest.len());
    let (key, bytes) = rest.split_at(key_len);
    if let Ok(response) = protocol::decode_response(kind, key, bytes) {
        assert!(response.closer.len() <= protocol::MAX_PEERS && response.providers.len() <= protocol::MAX_PEERS);
        for peer in response.closer.iter().chain(&response.providers) {
            assert!(peer.addrs.len() <= protocol::MAX_ADDRS);
        }
        let encoded = protocol::encode_response(kind, key, &response);
        let again: Response = protocol::decode_response(kind, key, &encoded).expect("our encoding decodes");
        assert_eq!(again, response);
    }
});
