//! Record validation by namespace: a key `/<ns>/<rest>` is checked by the
//! validator registered for `<ns>`. Built in: `/pk/` (a public key stored
//! under its peer ID) and `/ipns/` (a signed IPNS record). Pure: the caller
//! passes the wall-clock time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;

use super::pb;
use crate::identity::{PeerId, PublicKey};

/// Why a record is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The key has no `/<ns>/` prefix, or no validator for its namespace.
    #[error("no validator for the key's namespace")]
    UnknownNamespace,
    /// The value does not decode.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The value does not belong under this key.
    #[error("the record does not match its key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("invalid record signature")]
    BadSignature,
    /// The record's validity has passed.
    #[error("the record has expired")]
    Expired,
    /// The record exceeds its namespace's size limit.
    #[error("record of {0} bytes is too large")]
    TooLarge(usize),
}

/// Checks records of one namespace and picks the best of several.
pub trait Validator: Send + Sync {
    /// Whether `value` is a valid record for `key` at time `now`.
    fn validate(&self, key: &[u8], value: &[u8], now: SystemTime) -> Result<(), RecordError>;

    /// The index of the best of several valid `values` for `key` (default: the first).
    fn select(&self, key: &[u8], values: &[Vec<u8>]) -> usize {
        let _ = (key, values);
        0
    }
}

/// The validators of a node, by namespace.
#[derive(Clone)]
pub struct Validators {
    by_namespace: HashMap<String, Arc<dyn Validator>>,
    accept_unknown: bool,
}

impl Default for Validators {
    /// `/pk/` and `/ipns/`; other namespaces are refused (as go-libp2p does).
    fn default() -> Self {
        let mut v = Validators { by_namespace: HashMap::new(), accept_unknown: false };
        v.insert("pk", Arc::new(PkValidator));
        v.insert("ipns", Arc::new(IpnsValidator));
        v
    }
}

impl std::fmt::Debug for Validators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_namespace.keys().collect();
        names.sort();
        f.debug_struct("Validators").field("namespaces", &names).field("accept_unknown", &self.accept_unknown).finish()
    }
}

impl Validators {
    /// Registers (or replaces) the validator of `namespace` (without slashes).
    pub fn insert(&mut self, namespace: &str, validator: Arc<dyn Validator>) {
        self.by_namespace.insert(namespace.to_string(), validator);
    }

    /// Whether keys outside every registered namespace are accepted
    /// unchecked (rust-libp2p's behaviour) rather than refused (go-libp2p's).
    pub fn accept_unknown_namespaces(mut self, accept: bool) -> Self {
        self.accept_unknown = accept;
        self
    }

    fn validator_for(&self, key: &[u8]) -> Option<&Arc<dyn Validator>> {
        let ns = namespace(key)?;
        let ns = std::str::from_utf8(ns).ok()?;
        self.by_namespace.get(ns)
    }

    /// Validates `value` under `key`.
    pub fn validate(&self, key: &[u8], value: &[u8], now: SystemTime) -> Result<(), RecordError> {
        match self.validator_for(key) {
            Some(v) => v.validate(key, value, now),
            None if self.accept_unknown => Ok(()),
            None => Err(RecordError::UnknownNamespace),
        }
    }

    /// The index of the best of several valid values.
    pub fn select(&self, key: &[u8], values: &[Vec<u8>]) -> usize {
        match self.validator_for(key) {
            Some(v) => v.select(key, values).min(values.len().saturating_sub(1)),
            None => 0,
        }
    }
}

/// `<ns>` of a key `/<ns>/<rest>`.
fn namespace(key: &[u8]) -> Option<&[u8]> {
    let rest = key.strip_prefix(b"/")?;
    let end = rest.iter().position(|b| *b == b'/')?;
    if end == 0 { None } else { Some(&rest[..end]) }
}

/// The bytes after `/<ns>/`.
fn after_namespace<'a>(key: &'a [u8], ns: &[u8]) -> Option<&'a [u8]> {
    key.strip_prefix(b"/")?.strip_prefix(ns)?.strip_prefix(b"/")
}

/// `/pk/<binary peer ID>`: the value is the protobuf-encoded public key of
/// that peer.
pub struct PkValidator;

impl Validator for PkValidator {
    fn validate(&self, key: &[u8], value: &[u8], _now: SystemTime) -> Result<(), RecordError> {
        let id = after_namespace(key, b"pk").ok_or(RecordError::KeyMismatch)?;
        let peer = PeerId::from_bytes(id).map_err(|_| RecordError::Malformed("key is not a peer ID"))?;
        let public = PublicKey::try_decode_protobuf(value).map_err(|_| RecordError::Malformed("not a public key"))?;
        if public.to_peer_id() != peer {
            return Err(RecordError::KeyMismatch);
        }
        Ok(())
    }
}

/// The IPNS record size limit (IPNS spec).
pub const MAX_IPNS_RECORD: usize = 10 * 1024;

/// `/ipns/<binary peer ID>`: a V2-signed IPNS record by that peer's key,
/// not past its end of life.
pub struct IpnsValidator;

/// The signed fields of an IPNS record (its DAG-CBOR `data`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IpnsData {
    /// The path the name points to.
    pub value: Vec<u8>,
    /// RFC 3339 end of life.
    pub validity: Vec<u8>,
    /// 0 = EOL.
    pub validity_type: u64,
    /// Higher wins.
    pub sequence: u64,
    /// Nanoseconds.
    pub ttl: u64,
}

impl Validator for IpnsValidator {
    fn validate(&self, key: &[u8], value: &[u8], now: SystemTime) -> Result<(), RecordError> {
        if value.len() > MAX_IPNS_RECORD {
            return Err(RecordError::TooLarge(value.len()));
        }
        let id = after_namespace(key, b"ipns").ok_or(RecordError::KeyMismatch)?;
        let name = PeerId::from_bytes(id).map_err(|_| RecordError::Malformed("key is not a peer ID"))?;
        let entry = pb::IpnsEntry::decode(value).map_err(|_| RecordError::Malformed("not an IPNS record"))?;
        let public = match (&entry.pub_key, name.inlined_public_key()) {
            (Some(bytes), _) => PublicKey::try_decode_protobuf(bytes).map_err(|_| RecordError::Malformed("pubKey"))?,
            (None, Some(inlined)) => {
                PublicKey::try_decode_protobuf(inlined).map_err(|_| RecordError::Malformed("inlined key"))?
            }
            (None, None) => return Err(RecordError::Malformed("no public key")),
        };
        if public.to_peer_id() != name {
            return Err(RecordError::KeyMismatch);
        }
        let data = entry.data.as_deref().ok_or(RecordError::Malformed("no data"))?;
        let signature = entry.signature_v2.as_deref().ok_or(RecordError::Malformed("no signatureV2"))?;
        let mut signed = b"ipns-signature:".to_vec();
        signed.extend_from_slice(data);
        if !public.verify(&signed, signature) {
            return Err(RecordError::BadSignature);
        }
        let fields = decode_ipns_data(data)?;
        // Fields repeated in the protobuf (for V1 readers) must agree with the signed ones.
        let agrees = entry.value.as_ref().is_none_or(|v| *v == fields.value)
            && entry.validity.as_ref().is_none_or(|v| *v == fields.validity)
            && entry.sequence.is_none_or(|s| s == fields.sequence);
        if !agrees {
            return Err(RecordError::Malformed("protobuf fields differ from the signed data"));
        }
        if fields.validity_type != 0 {
            return Err(RecordError::Malformed("unknown validity type"));
        }
        let eol = parse_rfc3339(&fields.validity).ok_or(RecordError::Malformed("validity is not RFC 3339"))?;
        if now >= eol {
            return Err(RecordError::Expired);
        }
        Ok(())
    }

    fn select(&self, _key: &[u8], values: &[Vec<u8>]) -> usize {
        let sequence = |v: &Vec<u8>| {
            pb::IpnsEntry::decode(v.as_slice())
                .ok()
                .and_then(|e| e.data)
                .and_then(|d| decode_ipns_data(&d).ok())
                .map(|f| f.sequence)
                .unwrap_or(0)
        };
        let mut best = 0;
        for (i, v) in values.iter().enumerate() {
            if sequence(v) > values.get(best).map(sequence).unwrap_or(0) {
                best = i;
            }
        }
        best
    }
}

// ---- the DAG-CBOR subset of IPNS data: one map of text keys to byte
// strings, text strings and unsigned integers ----

/// Decodes the `data` of an IPNS record.
pub fn decode_ipns_data(data: &[u8]) -> Result<IpnsData, RecordError> {
    let bad = RecordError::Malformed("IPNS data is not the expected CBOR map");
    let mut pos = 0;
    let (major, entries) = cbor_head(data, &mut pos).ok_or(bad.clone())?;
    if major != 5 || entries > 16 {
        return Err(bad);
    }
    let mut out = IpnsData::default();
    for _ in 0..entries {
        let (major, len) = cbor_head(data, &mut pos).ok_or(bad.clone())?;
        if major != 3 {
            return Err(bad);
        }
        let name = cbor_bytes(data, &mut pos, len).ok_or(bad.clone())?.to_vec();
        let (major, arg) = cbor_head(data, &mut pos).ok_or(bad.clone())?;
        match major {
            0 => match name.as_slice() {
                b"ValidityType" => out.validity_type = arg,
                b"Sequence" => out.sequence = arg,
                b"TTL" => out.ttl = arg,
                _ => {}
            },
            2 | 3 => {
                let bytes = cbor_bytes(data, &mut pos, arg).ok_or(bad.clone())?.to_vec();
                match name.as_slice() {
                    b"Value" => out.value = bytes,
                    b"Validity" => out.validity = bytes,
                    _ => {}
                }
            }
            _ => return Err(bad),
        }
    }
    if pos != data.len() {
        return Err(bad);
    }
    Ok(out)
}

/// A CBOR item head: (major type, argument).
fn cbor_head(data: &[u8], pos: &mut usize) -> Option<(u8, u64)> {
    let first = *data.get(*pos)?;
    *pos += 1;
    let (major, info) = (first >> 5, first & 0x1f);
    let size = match info {
        0..=23 => return Some((major, u64::from(info))),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return None, // indefinite lengths are not DAG-CBOR
    };
    let bytes = data.get(*pos..*pos + size)?;
    *pos += size;
    Some((major, bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))))
}

fn cbor_bytes<'a>(data: &'a [u8], pos: &mut usize, len: u64) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    let end = pos.checked_add(len)?;
    let out = data.get(*pos..end)?;
    *pos = end;
    Some(out)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)` into a time.
pub fn parse_rfc3339(text: &[u8]) -> Option<SystemTime> {
    let s = std::str::from_utf8(text).ok()?;
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) { part.parse().ok() } else { None }
    };
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u32 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = frac[..digits].chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn cbor_text(out: &mut Vec<u8>, major: u8, bytes: &[u8]) {
        cbor_uint(out, major, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn cbor_uint(out: &mut Vec<u8>, major: u8, v: u64) {
        let m = major << 5;
        if v < 24 {
            out.push(m | v as u8);
        } else if v <= 0xff {
            out.extend_from_slice(&[m | 24, v as u8]);
        } else if v <= 0xffff {
            out.push(m | 25);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= 0xffff_ffff {
            out.push(m | 26);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            out.push(m | 27);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A V2 IPNS record for `keypair`'s name (DAG-CBOR keys in canonical order).
    pub(crate) fn ipns_record(keypair: &Keypair, value: &[u8], validity: &str, sequence: u64) -> Vec<u8> {
        let mut data = Vec::new();
        cbor_uint(&mut data, 5, 5);
        cbor_text(&mut data, 3, b"TTL");
        cbor_uint(&mut data, 0, 3_600_000_000_000);
        cbor_text(&mut data, 3, b"Value");
        cbor_text(&mut data, 2, value);
        cbor_text(&mut data, 3, b"Sequence");
        cbor_uint(&mut data, 0, sequence);
        cbor_text(&mut data, 3, b"Validity");
        cbor_text(&mut data, 2, validity.as_bytes());
        cbor_text(&mut data, 3, b"ValidityType");
        cbor_uint(&mut data, 0, 0);
        let mut signed = b"ipns-signature:".to_vec();
        signed.extend_from_slice(&data);
        let entry = pb::IpnsEntry {
            value: Some(value.to_vec()),
            validity: Some(validity.as_bytes().to_vec()),
            validity_type: Some(0),
            sequence: Some(sequence),
            ttl: Some(3_600_000_000_000),
            signature_v2: Some(keypair.sign(&signed).expect("signs")),
            data: Some(data),
            ..Default::default()
        };
        entry.encode_to_vec()
    }

    pub(crate) fn ipns_key(peer: &PeerId) -> Vec<u8> {
        [b"/ipns/".as_slice(), peer.as_bytes()].concat()
    }

    pub(crate) fn pk_key(peer: &PeerId) -> Vec<u8> {
        [b"/pk/".as_slice(), peer.as_bytes()].concat()
    }

    #[test]
    fn rfc3339_parses_common_forms() {
        let t = parse_rfc3339(b"1970-01-02T00:00:01Z").expect("parses");
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(86_401));
        let t = parse_rfc3339(b"2000-03-01T00:00:00.5+01:00").expect("parses");
        assert_eq!(t, UNIX_EPOCH + Duration::new(951_865_200, 500_000_000));
        assert!(parse_rfc3339(b"2000-13-01T00:00:00Z").is_none());
        assert!(parse_rfc3339(b"garbage").is_none());
        assert!(parse_rfc3339(b"2000-01-01T00:00:00").is_none());
    }

    #[test]
    fn pk_records_must_match_their_key() {
        let v = Validators::default();
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let now = SystemTime::now();
        let value = key.public().encode_protobuf();
        assert_eq!(v.validate(&pk_key(&key.peer_id()), &value, now), Ok(()));
        assert_eq!(v.validate(&pk_key(&other.peer_id()), &value, now), Err(RecordError::KeyMismatch));
        assert!(matches!(v.validate(&pk_key(&key.peer_id()), b"junk", now), Err(RecordError::Malformed(_))));
        assert!(matches!(v.validate(b"/pk/notapeer", &value, now), Err(RecordError::Malformed(_))));
    }

    #[test]
    fn unknown_namespaces_are_refused_unless_accepted() {
        let now = SystemTime::now();
        assert_eq!(Validators::default().validate(b"/x/y", b"v", now), Err(RecordError::UnknownNamespace));
        assert_eq!(Validators::default().validate(b"plain", b"v", now), Err(RecordError::UnknownNamespace));
        let open = Validators::default().accept_unknown_namespaces(true);
        assert_eq!(open.validate(b"plain", b"v", now), Ok(()));
        // Known namespaces stay checked.
        assert!(open.validate(b"/pk/x", b"v", now).is_err());
    }

    #[test]
    fn ipns_records_verify_signature_key_and_validity() {
        let v = Validators::default();
        let key = Keypair::generate_ed25519();
        let name = ipns_key(&key.peer_id());
        let now = SystemTime::now();
        let good = ipns_record(&key, b"/ipfs/bafy", "2999-01-01T00:00:00Z", 3);
        assert_eq!(v.validate(&name, &good, now), Ok(()));
        let expired = ipns_record(&key, b"/ipfs/bafy", "2001-01-01T00:00:00Z", 3);
        assert_eq!(v.validate(&name, &expired, now), Err(RecordError::Expired));
        // Signed by someone else, stored under our name.
        let forged = ipns_record(&Keypair::generate_ed25519(), b"/ipfs/evil", "2999-01-01T00:00:00Z", 9);
        assert_eq!(v.validate(&name, &forged, now), Err(RecordError::BadSignature));
        // A flipped bit in the signed data.
        let mut entry = pb::IpnsEntry::decode(good.as_slice()).expect("decodes");
        if let Some(d) = entry.data.as_mut() {
            d[3] ^= 1;
        }
        assert!(v.validate(&name, &entry.encode_to_vec(), now).is_err());
        assert!(matches!(v.validate(&name, &[0xff; 20], now), Err(RecordError::Malformed(_))));
        assert_eq!(
            v.validate(&name, &vec![0; MAX_IPNS_RECORD + 1], now),
            Err(RecordError::TooLarge(MAX_IPNS_RECORD + 1))
        );
        // The higher sequence wins.
        let newer = ipns_record(&key, b"/ipfs/newer", "2999-01-01T00:00:00Z", 4);
        assert_eq!(v.select(&name, &[good.clone(), newer.clone()]), 1);
        assert_eq!(v.select(&name, &[newer, good]), 0);
    }

    #[test]
    fn cbor_decoder_rejects_random_input() {
        for seed in 0u8..=255 {
            let junk: Vec<u8> = (0..32).map(|i| seed.wrapping_mul(31).wrapping_add(i * 7)).collect();
            let _ = decode_ipns_data(&junk); // never panics
        }
        assert!(decode_ipns_data(&[0xbf]).is_err()); // indefinite map
        assert!(decode_ipns_data(&[0xa1, 0x63]).is_err()); // truncated
    }
}
