#![no_main]
//! Length-prefixed frames: the sans-IO decoder and the async reader agree,
//! never panic, and respect the caller's limit.

use libfuzzer_sys::fuzz_target;
use lp2p::wire::frame::{FrameError, decode_frame, encode_frame, read_frame};
use lp2p_fuzz::block_on_ready;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, data)) = data.split_first() else { return };
    let max = usize::from(limit) * 64;
    let decoded = decode_frame(data, max);
    let mut reader = data;
    let read = block_on_ready(read_frame(&mut reader, max)).expect("a slice reader is always ready");
    match decoded {
        Ok(Some((start, len))) => {
            assert!(len <= max);
            let payload = &data[start..start + len];
            assert_eq!(read.ok().as_deref(), Some(payload));
            let mut again = Vec::new();
            encode_frame(payload, &mut again);
            assert_eq!(again, &data[..start + len], "decoded frames are minimal, so they re-encode the same");
        }
        Ok(None) => assert!(read.is_err(), "an incomplete frame does not read"),
        Err(FrameError::TooLarge { len, .. }) => assert!(len > max && read.is_err()),
        Err(_) => assert!(read.is_err()),
    }
});
