//! Unsigned varints as the multiformats `unsigned-varint` spec defines them:
//! little-endian base-128, at most 9 bytes (63 bits), minimal encoding only.

/// The longest varint the spec allows (9 bytes carry 63 bits).
pub const MAX_LEN: usize = 9;

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended before the last byte of the varint.
    #[error("varint is truncated")]
    Incomplete,
    /// More than 9 bytes, or a value that does not fit the target type.
    #[error("varint overflows")]
    Overflow,
    /// A trailing zero byte: the spec requires the shortest encoding.
    #[error("varint is not minimally encoded")]
    NotMinimal,
}

/// Appends the varint encoding of `value` to `out`.
pub fn encode(value: u64, out: &mut Vec<u8>) {
    let mut v = value;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The encoding of `value` as a fresh vector.
pub fn encode_to_vec(value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_LEN);
    encode(value, &mut out);
    out
}

/// How many bytes the encoding of `value` takes.
pub fn encoded_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Decodes a varint at the start of `input`: the value and the bytes it used.
pub fn decode(input: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate() {
        if i >= MAX_LEN {
            return Err(VarintError::Overflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarintError::NotMinimal);
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() >= MAX_LEN {
        return Err(VarintError::Overflow);
    }
    Err(VarintError::Incomplete)
}

/// Decodes a varint that must fit a `usize`.
pub fn decode_usize(input: &[u8]) -> Result<(usize, usize), VarintError> {
    let (value, used) = decode(input)?;
    let value = usize::try_from(value).map_err(|_| VarintError::Overflow)?;
    Ok((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        for v in [0u64, 1, 127, 128, 255, 300, 16_383, 16_384, (1 << 63) - 1] {
            let bytes = encode_to_vec(v);
            assert_eq!(bytes.len(), encoded_len(v));
            assert_eq!(decode(&bytes), Ok((v, bytes.len())));
        }
    }

    #[test]
    fn spec_examples() {
        assert_eq!(encode_to_vec(1), [0x01]);
        assert_eq!(encode_to_vec(127), [0x7f]);
        assert_eq!(encode_to_vec(128), [0x80, 0x01]);
        assert_eq!(encode_to_vec(255), [0xff, 0x01]);
        assert_eq!(encode_to_vec(300), [0xac, 0x02]);
        assert_eq!(encode_to_vec(16_384), [0x80, 0x80, 0x01]);
    }

    #[test]
    fn truncated_input_is_incomplete() {
        assert_eq!(decode(&[]), Err(VarintError::Incomplete));
        assert_eq!(decode(&[0x80]), Err(VarintError::Incomplete));
        assert_eq!(decode(&[0xff, 0xff]), Err(VarintError::Incomplete));
    }

    #[test]
    fn oversized_input_overflows() {
        assert_eq!(decode(&[0xff; 9]), Err(VarintError::Overflow));
        assert_eq!(decode(&[0xff; 20]), Err(VarintError::Overflow));
    }

    #[test]
    fn non_minimal_is_rejected() {
        assert_eq!(decode(&[0x81, 0x00]), Err(VarintError::NotMinimal));
        assert_eq!(decode(&[0x80, 0x80, 0x00]), Err(VarintError::NotMinimal));
    }

    #[test]
    fn random_input_never_panics() {
        for bytes in crate::testutil::random_inputs(0x1234_5678, 10_000, 12) {
            let _ = decode(&bytes);
        }
    }
}
