#![no_main]
//! Unsigned varints: decoding never panics; what decodes is the minimal
//! encoding of its value, so encoding it again gives the same bytes.

use libfuzzer_sys::fuzz_target;
use lp2p::wire::varint;

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = varint::decode(data) {
        assert!(used <= varint::MAX_LEN && used <= data.len());
        assert_eq!(varint::encode_to_vec(value), &data[..used]);
        assert_eq!(varint::encoded_len(value), used);
    }
    if let Ok((value, used)) = varint::decode_usize(data) {
        assert_eq!(varint::decode(&data[..used]), Ok((value as u64, used)));
    }
});
