#![no_main]
//! multistream-select with structured input: two honest machines with
//! arbitrary protocol lists agree on the right protocol; a listener fed an
//! arbitrary sequence of messages, one per read, meets the proposal cap.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lp2p::negotiate::machine::{DialerOutcome, DialerSelect, ListenerSelect, Message};

const MAX_ATTEMPTS: usize = 64;

#[derive(Arbitrary, Debug)]
enum Remote {
    Header,
    Protocol(String),
    NotAvailable,
    ListProtocols,
    Protocols(Vec<String>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    dialer: Vec<String>,
    listener: Vec<String>,
    messages: Vec<Remote>,
}

fn honest_pair(dialer_protocols: &[String], listener_protocols: &[String]) {
    let Ok(mut dialer) = DialerSelect::new(dialer_protocols) else { return };
    let mut listener = ListenerSelect::new(listener_protocols);
    let expected = dialer_protocols.iter().find(|p| listener_protocols.contains(p)).cloned();
    for _ in 0..dialer_protocols.len() + 2 {
        let selected = listener.handle_input(&dialer.take_output());
        assert!(selected.is_ok() || expected.is_none() || dialer_protocols.len() > MAX_ATTEMPTS, "{selected:?}");
        if selected.is_err() {
            return; // the listener closes the stream
        }
        match dialer.handle_input(&listener.take_output()) {
            Ok(Some(DialerOutcome::Selected(p))) => {
                assert_eq!(Some(p), expected);
                return;
            }
            Ok(Some(DialerOutcome::Listed(_))) => panic!("a proposing dialer does not list"),
            Ok(None) => {}
            Err(_) => {
                assert!(expected.is_none() || dialer_protocols.len() > MAX_ATTEMPTS);
                return;
            }
        }
    }
    panic!("negotiation did not end");
}

fuzz_target!(|input: Input| {
    let dialer: Vec<String> = input.dialer.into_iter().take(80).collect();
    honest_pair(&dialer, &input.listener);

    let mut listener = ListenerSelect::new(&input.listener);
    let _header = listener.take_output();
    let mut answered = 0;
    for message in input.messages {
        let mut bytes = Vec::new();
        match message {
            Remote::Header => Message::Header.encode(&mut bytes),
            Remote::Protocol(p) => Message::Protocol(p).encode(&mut bytes),
            Remote::NotAvailable => Message::NotAvailable.encode(&mut bytes),
            Remote::ListProtocols => Message::ListProtocols.encode(&mut bytes),
            Remote::Protocols(list) => Message::Protocols(list).encode(&mut bytes),
            Remote::Raw(raw) => bytes = raw,
        }
        match listener.handle_input(&bytes) {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) => {
                if !listener.take_output().is_empty() {
                    answered += 1;
                }
            }
        }
        // The header answer is sent at once; each later answer is a proposal or `ls`.
        assert!(answered <= MAX_ATTEMPTS, "the listener answered {answered} times");
    }
});
