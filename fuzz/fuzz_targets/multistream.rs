#![no_main]
//! multistream-select: arbitrary bytes from the remote, cut anywhere, into
//! the listener and the dialer machines. No panic, and what the listener
//! sends stays bounded whatever the remote sends (the proposal cap).

use libfuzzer_sys::fuzz_target;
use lp2p::negotiate::machine::{DialerSelect, ListenerSelect, Message};
use lp2p_fuzz::{chunks, names};

/// Proposals and `ls` requests a listener answers (its `MAX_ATTEMPTS`).
const MAX_ATTEMPTS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, remote)) = data.split_first() else { return };
    let sizes = [cut, cut.rotate_left(3), cut.rotate_left(5)];
    let supported = names(&["/noise", "/yamux/1.0.0", "/ipfs/ping/1.0.0"]);

    let mut listener = ListenerSelect::new(&supported);
    let mut sent = listener.take_output().len();
    for chunk in chunks(remote, &sizes) {
        let outcome = listener.handle_input(chunk);
        sent += listener.take_output().len();
        match outcome {
            Ok(Some(protocol)) => {
                assert!(supported.contains(&protocol));
                break;
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    let mut ls_answer = Vec::new();
    Message::Protocols(supported.clone()).encode(&mut ls_answer);
    let header = 19 + 1;
    assert!(sent <= header + MAX_ATTEMPTS * ls_answer.len() + 1100, "the listener sent {sent} bytes");

    for mut dialer in [DialerSelect::new(&supported).expect("valid names"), DialerSelect::list()] {
        let mut sent = dialer.take_output().len();
        for chunk in chunks(remote, &sizes) {
            let outcome = dialer.handle_input(chunk);
            sent += dialer.take_output().len();
            if !matches!(outcome, Ok(None)) {
                break;
            }
        }
        assert!(sent <= 20 + supported.iter().map(|p| p.len() + 3).sum::<usize>());
        let _ = dialer.into_leftover();
    }
});
