//! The sans-IO machines of multistream-select. Feed received bytes with
//! `handle_input`, send what `take_output` returns; when an outcome is
//! reported, `into_leftover` gives the bytes received after the last message.

use super::{HEADER, MAX_MESSAGE_LEN, NegotiationError, validate_protocol};
use crate::wire::frame;
use crate::wire::varint;

/// A multistream-select message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `/multistream/1.0.0`
    Header,
    /// A protocol proposal or its echo.
    Protocol(String),
    /// `na`: not available.
    NotAvailable,
    /// `ls`: list your protocols.
    ListProtocols,
    /// The answer to `ls`.
    Protocols(Vec<String>),
}

impl Message {
    /// Appends the framed message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let line = |text: &str, out: &mut Vec<u8>| {
            varint::encode(text.len() as u64 + 1, out);
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        };
        match self {
            Message::Header => line(HEADER, out),
            Message::Protocol(p) => line(p, out),
            Message::NotAvailable => line("na", out),
            Message::ListProtocols => line("ls", out),
            Message::Protocols(list) => {
                let mut body = Vec::new();
                for p in list {
                    line(p, &mut body);
                }
                body.push(b'\n');
                varint::encode(body.len() as u64, out);
                out.extend_from_slice(&body);
            }
        }
    }

    /// Decodes one message payload (without its length prefix).
    /// `expect_list` reads it as an `ls` answer.
    pub fn decode(payload: &[u8], expect_list: bool) -> Result<Message, NegotiationError> {
        if expect_list {
            return decode_list(payload);
        }
        let text = payload.strip_suffix(b"\n").ok_or(NegotiationError::InvalidMessage)?;
        let text = std::str::from_utf8(text).map_err(|_| NegotiationError::InvalidMessage)?;
        Ok(match text {
            HEADER => Message::Header,
            "na" => Message::NotAvailable,
            "ls" => Message::ListProtocols,
            _ if text.starts_with("/multistream/") => return Err(NegotiationError::WrongHeader),
            _ => {
                validate_protocol(text)?;
                Message::Protocol(text.to_string())
            }
        })
    }
}

fn decode_list(payload: &[u8]) -> Result<Message, NegotiationError> {
    let mut rest = payload;
    let mut list = Vec::new();
    // Implementations differ on a final "\n" after the list; accept both.
    while !rest.is_empty() && rest != b"\n" {
        let (start, len) = frame::decode_frame(rest, super::MAX_PROTOCOL_LEN + 1)
            .map_err(|_| NegotiationError::InvalidMessage)?
            .ok_or(NegotiationError::InvalidMessage)?;
        match Message::decode(&rest[start..start + len], false)? {
            Message::Protocol(p) => list.push(p),
            _ => return Err(NegotiationError::InvalidMessage),
        }
        rest = &rest[start + len..];
    }
    Ok(Message::Protocols(list))
}

/// Buffers input and splits it into message payloads.
#[derive(Debug, Default)]
struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if buffered.
    fn next(&mut self, expect_list: bool) -> Result<Option<Message>, NegotiationError> {
        let found = frame::decode_frame(&self.buf, MAX_MESSAGE_LEN).map_err(|e| match e {
            frame::FrameError::TooLarge { .. } => NegotiationError::TooLong,
            _ => NegotiationError::InvalidMessage,
        })?;
        let Some((start, len)) = found else {
            return Ok(None);
        };
        let message = Message::decode(&self.buf[start..start + len], expect_list)?;
        self.buf.drain(..start + len);
        Ok(Some(message))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialerState {
    AwaitHeader,
    AwaitResponse,
    AwaitList,
    Done,
}

/// The dialer's machine: proposes protocols in order until one is accepted.
#[derive(Debug)]
pub struct DialerSelect {
    protocols: Vec<String>,
    next: usize,
    state: DialerState,
    reader: Reader,
    output: Vec<u8>,
}

impl DialerSelect {
    /// A dialer that will propose `protocols` in order. The header and the
    /// first proposal are queued at once.
    pub fn new(protocols: &[String]) -> Result<DialerSelect, NegotiationError> {
        if protocols.is_empty() {
            return Err(NegotiationError::Failed);
        }
        for p in protocols {
            validate_protocol(p)?;
        }
        let mut output = Vec::new();
        Message::Header.encode(&mut output);
        Message::Protocol(protocols[0].clone()).encode(&mut output);
        Ok(DialerSelect {
            protocols: protocols.to_vec(),
            next: 1,
            state: DialerState::AwaitHeader,
            reader: Reader::default(),
            output,
        })
    }

    /// A dialer that asks for the listener's protocols instead of proposing.
    pub fn list() -> DialerSelect {
        let mut output = Vec::new();
        Message::Header.encode(&mut output);
        Message::ListProtocols.encode(&mut output);
        DialerSelect {
            protocols: Vec::new(),
            next: 0,
            state: DialerState::AwaitHeader,
            reader: Reader::default(),
            output,
        }
    }

    /// Bytes to send now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Feeds received bytes. Returns the outcome once there is one.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Option<DialerOutcome>, NegotiationError> {
        self.reader.push(bytes);
        loop {
            if self.state == DialerState::Done {
                return Ok(None);
            }
            let Some(message) = self.reader.next(self.state == DialerState::AwaitList)? else {
                return Ok(None);
            };
            match (self.state, message) {
                (DialerState::AwaitHeader, Message::Header) => {
                    self.state =
                        if self.protocols.is_empty() { DialerState::AwaitList } else { DialerState::AwaitResponse };
                }
                (DialerState::AwaitHeader, _) => return Err(NegotiationError::WrongHeader),
                (DialerState::AwaitResponse, Message::Protocol(p)) if Some(&p) == self.current() => {
                    self.state = DialerState::Done;
                    return Ok(Some(DialerOutcome::Selected(p)));
                }
                (DialerState::AwaitResponse, Message::NotAvailable) => {
                    let Some(next) = self.protocols.get(self.next).cloned() else {
                        self.state = DialerState::Done;
                        return Err(NegotiationError::Failed);
                    };
                    self.next += 1;
                    Message::Protocol(next).encode(&mut self.output);
                }
                (DialerState::AwaitList, Message::Protocols(list)) => {
                    self.state = DialerState::Done;
                    return Ok(Some(DialerOutcome::Listed(list)));
                }
                _ => return Err(NegotiationError::InvalidMessage),
            }
        }
    }

    fn current(&self) -> Option<&String> {
        self.protocols.get(self.next.wrapping_sub(1))
    }

    /// Bytes received after the final message.
    pub fn into_leftover(self) -> Vec<u8> {
        self.reader.buf
    }
}

/// What the dialer learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialerOutcome {
    /// The listener accepted this protocol.
    Selected(String),
    /// The listener's protocols (answer to `ls`).
    Listed(Vec<String>),
}

/// The listener's machine: answers proposals from a list of supported protocols.
#[derive(Debug)]
pub struct ListenerSelect {
    supported: Vec<String>,
    got_header: bool,
    done: bool,
    /// Proposals and `ls` requests so far, over all calls to `handle_input`:
    /// a remote sending one proposal per read must meet the same cap.
    attempts: usize,
    reader: Reader,
    output: Vec<u8>,
}

/// How many proposals or `ls` requests a dialer may make before we give up:
/// a bound on the work a peer can make us do.
const MAX_ATTEMPTS: usize = 64;

impl ListenerSelect {
    /// A listener for `supported`; its header is queued at once.
    pub fn new(supported: &[String]) -> ListenerSelect {
        let mut output = Vec::new();
        Message::Header.encode(&mut output);
        ListenerSelect {
            supported: supported.to_vec(),
            got_header: false,
            done: false,
            attempts: 0,
            reader: Reader::default(),
            output,
        }
    }

    /// Bytes to send now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Feeds received bytes. Returns the selected protocol once there is one.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Option<String>, NegotiationError> {
        self.reader.push(bytes);
        while !self.done {
            let Some(message) = self.reader.next(false)? else {
                return Ok(None);
            };
            if !self.got_header {
                if message != Message::Header {
                    return Err(NegotiationError::WrongHeader);
                }
                self.got_header = true;
                continue;
            }
            self.attempts += 1;
            if self.attempts > MAX_ATTEMPTS {
                return Err(NegotiationError::Failed);
            }
            match message {
                Message::Protocol(p) if self.supported.contains(&p) => {
                    Message::Protocol(p.clone()).encode(&mut self.output);
                    self.done = true;
                    return Ok(Some(p));
                }
                Message::Protocol(_) => Message::NotAvailable.encode(&mut self.output),
                Message::ListProtocols => Message::Protocols(self.supported.clone()).encode(&mut self.output),
                _ => return Err(NegotiationError::InvalidMessage),
            }
        }
        Ok(None)
    }

    /// Bytes received after the final message.
    pub fn into_leftover(self) -> Vec<u8> {
        self.reader.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Runs two machines against each other until the dialer has an outcome.
    fn run(dialer: &mut DialerSelect, listener: &mut ListenerSelect) -> Result<DialerOutcome, NegotiationError> {
        for _ in 0..100 {
            let to_listener = dialer.take_output();
            listener.handle_input(&to_listener)?;
            let to_dialer = listener.take_output();
            if let Some(outcome) = dialer.handle_input(&to_dialer)? {
                return Ok(outcome);
            }
        }
        panic!("negotiation did not finish");
    }

    #[test]
    fn na_byte_form_matches_the_spec() {
        let mut out = Vec::new();
        Message::NotAvailable.encode(&mut out);
        assert_eq!(out, [0x03, b'n', b'a', b'\n']);
    }

    #[test]
    fn second_proposal_is_accepted_after_na() {
        let mut dialer = DialerSelect::new(&names(&["/tls/1.0.0", "/noise"])).expect("valid");
        let mut listener = ListenerSelect::new(&names(&["/noise"]));
        assert_eq!(run(&mut dialer, &mut listener).ok(), Some(DialerOutcome::Selected("/noise".into())));
    }

    #[test]
    fn no_common_protocol_fails() {
        let mut dialer = DialerSelect::new(&names(&["/a", "/b"])).expect("valid");
        let mut listener = ListenerSelect::new(&names(&["/c"]));
        assert!(matches!(run(&mut dialer, &mut listener), Err(NegotiationError::Failed)));
    }

    #[test]
    fn ls_lists_the_listeners_protocols() {
        let mut dialer = DialerSelect::list();
        let mut listener = ListenerSelect::new(&names(&["/a/1", "/b/2"]));
        assert_eq!(run(&mut dialer, &mut listener).ok(), Some(DialerOutcome::Listed(names(&["/a/1", "/b/2"]))));
    }

    #[test]
    fn leftover_bytes_are_kept() {
        let mut dialer = DialerSelect::new(&names(&["/echo"])).expect("valid");
        let mut listener = ListenerSelect::new(&names(&["/echo"]));
        let mut bytes = dialer.take_output();
        bytes.extend_from_slice(b"early data");
        assert_eq!(listener.handle_input(&bytes).ok().flatten(), Some("/echo".to_string()));
        assert_eq!(listener.into_leftover(), b"early data");
    }

    #[test]
    fn protocol_names_are_validated() {
        assert!(DialerSelect::new(&["/x".repeat(600)]).is_err());
        assert!(DialerSelect::new(&names(&[""])).is_err());
        assert!(DialerSelect::new(&names(&["/a\nb"])).is_err());
        assert!(DialerSelect::new(&["/".to_string() + &"x".repeat(1023)]).is_ok());
        assert!(DialerSelect::new(&[]).is_err());
    }

    /// Found by the multistream_structured fuzz target: a dialer proposing
    /// `/multistream/...` was read by the listener as a wrong header, and
    /// the dialer waited for an answer that never came.
    #[test]
    fn names_the_codec_reads_as_other_messages_are_refused() {
        for name in ["na", "ls", HEADER, "/multistream/mlti\0"] {
            assert!(
                matches!(DialerSelect::new(&names(&["/a", name])), Err(NegotiationError::InvalidProtocol)),
                "{name:?}"
            );
        }
        assert!(DialerSelect::new(&names(&["/multistreamx", "nah", "/ls"])).is_ok());
    }

    #[test]
    fn wrong_header_and_garbage_are_errors() {
        let mut listener = ListenerSelect::new(&names(&["/a"]));
        let mut bad = Vec::new();
        Message::Protocol("/multistream/2.0.0".into()).encode(&mut bad);
        assert!(matches!(listener.handle_input(&bad), Err(NegotiationError::WrongHeader)));
        let mut listener = ListenerSelect::new(&names(&["/a"]));
        assert!(matches!(listener.handle_input(&[0x03, b'a', b'b', b'c']), Err(NegotiationError::InvalidMessage)));
        let mut listener = ListenerSelect::new(&names(&["/a"]));
        assert!(matches!(listener.handle_input(&[0xff, 0xff, 0x7f]), Err(NegotiationError::TooLong)));
    }

    #[test]
    fn truncated_input_waits_and_random_input_never_panics() {
        let mut dialer = DialerSelect::new(&names(&["/a"])).expect("valid");
        let all = dialer.take_output();
        for cut in 0..all.len() {
            let mut listener = ListenerSelect::new(&names(&["/a"]));
            // A strict prefix never completes and never errors.
            assert!(matches!(listener.handle_input(&all[..cut]), Ok(None)), "cut {cut}");
        }
        for bytes in crate::testutil::random_inputs(99, 10_000, 64) {
            let _ = ListenerSelect::new(&names(&["/a"])).handle_input(&bytes);
            let _ = DialerSelect::new(&names(&["/a"])).map(|mut d| d.handle_input(&bytes));
            let _ = Message::decode(&bytes, true);
        }
    }

    #[test]
    fn endless_proposals_are_bounded() {
        let mut listener = ListenerSelect::new(&names(&["/a"]));
        let mut bytes = Vec::new();
        Message::Header.encode(&mut bytes);
        for i in 0..100 {
            Message::Protocol(format!("/nope/{i}")).encode(&mut bytes);
        }
        assert!(matches!(listener.handle_input(&bytes), Err(NegotiationError::Failed)));
    }

    #[test]
    fn one_proposal_per_read_meets_the_same_cap() {
        let mut listener = ListenerSelect::new(&names(&["/a"]));
        let mut header = Vec::new();
        Message::Header.encode(&mut header);
        assert!(matches!(listener.handle_input(&header), Ok(None)));
        for i in 0..MAX_ATTEMPTS {
            let mut proposal = Vec::new();
            Message::Protocol(format!("/nope/{i}")).encode(&mut proposal);
            assert!(matches!(listener.handle_input(&proposal), Ok(None)), "proposal {i}");
        }
        let mut one_more = Vec::new();
        Message::ListProtocols.encode(&mut one_more);
        assert!(matches!(listener.handle_input(&one_more), Err(NegotiationError::Failed)));
    }
}
