//! Peer IDs: a multihash of the peer's protobuf-encoded public key (identity
//! multihash for keys of at most 42 bytes, SHA-256 above), written in base58btc
//! or as a CIDv1 with the `libp2p-key` codec.

use std::fmt;
use std::str::FromStr;

use crate::wire::varint;

/// Multihash code of the identity "hash" (the bytes themselves).
pub const MULTIHASH_IDENTITY: u64 = 0x00;
/// Multihash code of SHA2-256.
pub const MULTIHASH_SHA2_256: u64 = 0x12;
/// Multicodec of a libp2p public key inside a CID.
pub const CODEC_LIBP2P_KEY: u64 = 0x72;
/// Public keys at most this long are inlined with the identity multihash.
pub const MAX_INLINE_KEY_LENGTH: usize = 42;

/// Room for the longest valid multihash: a 2-byte header and 42 inline bytes.
const MAX_MULTIHASH_LEN: usize = 2 + MAX_INLINE_KEY_LENGTH;

/// Why bytes or text are not a peer ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    /// A varint of the multihash is malformed.
    #[error("invalid multihash: {0}")]
    Varint(#[from] varint::VarintError),
    /// The digest length does not match the bytes.
    #[error("multihash is truncated or has trailing bytes")]
    BadLength,
    /// Neither identity nor SHA2-256.
    #[error("unsupported multihash code {0:#x} (want identity or sha2-256)")]
    UnsupportedHash(u64),
    /// An inlined key longer than 42 bytes.
    #[error("identity multihash of {0} bytes exceeds 42")]
    InlineKeyTooLong(usize),
    /// A SHA-256 digest that is not 32 bytes.
    #[error("sha2-256 digest must be 32 bytes, got {0}")]
    BadDigestLength(usize),
    /// Not valid base58btc.
    #[error("invalid base58btc text")]
    Base58,
    /// An unknown or malformed multibase string.
    #[error("invalid multibase text")]
    Multibase,
    /// A CID of another version.
    #[error("CID is not version 1")]
    CidVersion,
    /// A CID whose codec is not libp2p-key.
    #[error("CID codec {0:#x} is not libp2p-key (0x72)")]
    CidCodec(u64),
}

/// The identity of a peer. Cheap to copy, ordered by its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    len: u8,
    bytes: [u8; MAX_MULTIHASH_LEN],
}

impl PeerId {
    /// Parses the binary form: a multihash (identity of at most 42 bytes, or SHA-256).
    pub fn from_bytes(data: &[u8]) -> Result<PeerId, PeerIdError> {
        let (code, code_len) = varint::decode(data)?;
        let (digest_len, len_len) = varint::decode_usize(&data[code_len..])?;
        let header = code_len + len_len;
        if data.len() - header != digest_len {
            return Err(PeerIdError::BadLength);
        }
        match code {
            MULTIHASH_IDENTITY if digest_len > MAX_INLINE_KEY_LENGTH => {
                return Err(PeerIdError::InlineKeyTooLong(digest_len));
            }
            MULTIHASH_IDENTITY => {}
            MULTIHASH_SHA2_256 if digest_len != 32 => return Err(PeerIdError::BadDigestLength(digest_len)),
            MULTIHASH_SHA2_256 => {}
            other => return Err(PeerIdError::UnsupportedHash(other)),
        }
        let mut bytes = [0u8; MAX_MULTIHASH_LEN];
        bytes[..data.len()].copy_from_slice(data);
        Ok(PeerId { len: data.len() as u8, bytes })
    }

    /// Builds the peer ID of an already protobuf-encoded public key.
    pub fn from_encoded_public_key(encoded: &[u8]) -> PeerId {
        let mut mh = Vec::with_capacity(MAX_MULTIHASH_LEN);
        if encoded.len() <= MAX_INLINE_KEY_LENGTH {
            varint::encode(MULTIHASH_IDENTITY, &mut mh);
            varint::encode(encoded.len() as u64, &mut mh);
            mh.extend_from_slice(encoded);
        } else {
            varint::encode(MULTIHASH_SHA2_256, &mut mh);
            varint::encode(32, &mut mh);
            mh.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, encoded).as_ref());
        }
        let mut bytes = [0u8; MAX_MULTIHASH_LEN];
        bytes[..mh.len()].copy_from_slice(&mh);
        PeerId { len: mh.len() as u8, bytes }
    }

    /// The binary form (the multihash).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The binary form as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// The public key bytes (protobuf encoding) when the ID inlines them.
    pub fn inlined_public_key(&self) -> Option<&[u8]> {
        let bytes = self.as_bytes();
        // An identity multihash has a one-byte code (0x00) and a one-byte length (<= 42).
        (bytes.first() == Some(&0)).then(|| &bytes[2..])
    }

    /// The legacy text form: base58btc of the multihash, no multibase prefix.
    pub fn to_base58(&self) -> String {
        bs58::encode(self.as_bytes()).into_string()
    }

    /// The CIDv1 text form: multibase base32 (`b`), version 1, codec libp2p-key.
    pub fn to_cid_string(&self) -> String {
        let mut cid = Vec::with_capacity(2 + self.as_bytes().len());
        varint::encode(1, &mut cid);
        varint::encode(CODEC_LIBP2P_KEY, &mut cid);
        cid.extend_from_slice(self.as_bytes());
        format!("b{}", data_encoding::BASE32_NOPAD.encode(&cid).to_ascii_lowercase())
    }

    /// Parses the CID form: a multibase string holding a CIDv1 with codec libp2p-key.
    fn from_cid_str(text: &str) -> Result<PeerId, PeerIdError> {
        let mut chars = text.chars();
        let base = chars.next().ok_or(PeerIdError::Multibase)?;
        let rest = chars.as_str();
        let cid = match base {
            'b' => data_encoding::BASE32_NOPAD.decode(rest.to_ascii_uppercase().as_bytes()),
            'B' => data_encoding::BASE32_NOPAD.decode(rest.as_bytes()),
            'f' | 'F' => data_encoding::HEXLOWER_PERMISSIVE.decode(rest.as_bytes()),
            'z' => {
                return bs58::decode(rest)
                    .into_vec()
                    .map_err(|_| PeerIdError::Base58)
                    .and_then(|b| Self::from_cid_bytes(&b));
            }
            _ => return Err(PeerIdError::Multibase),
        }
        .map_err(|_| PeerIdError::Multibase)?;
        Self::from_cid_bytes(&cid)
    }

    fn from_cid_bytes(cid: &[u8]) -> Result<PeerId, PeerIdError> {
        let (version, used) = varint::decode(cid)?;
        if version != 1 {
            return Err(PeerIdError::CidVersion);
        }
        let (codec, used2) = varint::decode(&cid[used..])?;
        if codec != CODEC_LIBP2P_KEY {
            return Err(PeerIdError::CidCodec(codec));
        }
        PeerId::from_bytes(&cid[used + used2..])
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    /// Accepts the base58btc form (`Qm...`, `12D3Koo...`) and the CIDv1 form.
    fn from_str(text: &str) -> Result<PeerId, PeerIdError> {
        if text.starts_with("Qm") || text.starts_with('1') {
            let bytes = bs58::decode(text).into_vec().map_err(|_| PeerIdError::Base58)?;
            return PeerId::from_bytes(&bytes);
        }
        PeerId::from_cid_str(text)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.to_base58())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the peer-ids spec.
    const ED25519_B58: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    const SHA256_B58: &str = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
    const CID: &str = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";

    #[test]
    fn parses_and_prints_base58() {
        for text in [ED25519_B58, SHA256_B58] {
            let id: PeerId = text.parse().expect("spec vector parses");
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn cid_form_round_trips() {
        let id: PeerId = CID.parse().expect("spec CID parses");
        assert_eq!(id.to_string(), "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
        assert_eq!(id.to_cid_string(), CID);
    }

    #[test]
    fn inline_key_is_exposed() {
        let id: PeerId = ED25519_B58.parse().expect("parses");
        assert_eq!(id.inlined_public_key().map(<[u8]>::len), Some(36));
        let hashed: PeerId = SHA256_B58.parse().expect("parses");
        assert_eq!(hashed.inlined_public_key(), None);
    }

    #[test]
    fn rejects_bad_bytes() {
        assert!(PeerId::from_bytes(&[]).is_err());
        assert_eq!(PeerId::from_bytes(&[0x12, 0x20, 1, 2]), Err(PeerIdError::BadLength));
        assert_eq!(PeerId::from_bytes(&[0x12, 0x02, 1, 2]), Err(PeerIdError::BadDigestLength(2)));
        assert_eq!(PeerId::from_bytes(&[0x13, 0x01, 1]), Err(PeerIdError::UnsupportedHash(0x13)));
        let mut long = vec![0x00, 43];
        long.extend_from_slice(&[7; 43]);
        assert_eq!(PeerId::from_bytes(&long), Err(PeerIdError::InlineKeyTooLong(43)));
    }

    #[test]
    fn rejects_bad_text() {
        for text in ["", "Qm", "12D3KooW", "bafy", "x123", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5", "1111"] {
            assert!(text.parse::<PeerId>().is_err(), "{text} should not parse");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        for bytes in crate::testutil::random_inputs(0x9e37_79b9, 5_000, 48) {
            let _ = PeerId::from_bytes(&bytes);
        }
    }
}
