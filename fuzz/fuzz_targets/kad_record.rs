#![no_main]
//! Kademlia records through the validators a node applies to PUT_VALUE and
//! GET_VALUE answers: `/pk/` keys, `/ipns/` records (the IPNS entry
//! protobuf, its DAG-CBOR data, the RFC 3339 validity), and the choice
//! among several values.

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lp2p::protocols::kad::pb;
use lp2p::protocols::kad::validator::{self, Validators};
use prost::Message;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: `/pk/`, 1: `/ipns/`, else the key as it is.
    namespace: u8,
    key: Vec<u8>,
    value: Vec<u8>,
    others: Vec<Vec<u8>>,
    now_secs: u32,
}

fuzz_target!(|input: Input| {
    let key = match input.namespace % 3 {
        0 => [b"/pk/".as_slice(), &input.key].concat(),
        1 => [b"/ipns/".as_slice(), &input.key].concat(),
        _ => input.key.clone(),
    };
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(input.now_secs) * 8);
    let validators = Validators::default();
    let _ = validators.validate(&key, &input.value, now);
    let mut values = input.others;
    values.push(input.value.clone());
    assert!(validators.select(&key, &values) < values.len());
    if let Ok(entry) = pb::IpnsEntry::decode(input.value.as_slice())
        && let Some(data) = entry.data
    {
        let _ = validator::decode_ipns_data(&data);
    }
    if let Ok(fields) = validator::decode_ipns_data(&input.value) {
        let _ = validator::parse_rfc3339(&fields.validity);
    }
    let _ = validator::parse_rfc3339(&input.key);
});
