//! The few DER structures libp2p keys use: RSA SubjectPublicKeyInfo, and
//! SEC1 / PKCS#8 ECDSA P-256 private keys. A minimal reader that refuses
//! anything unexpected (indefinite lengths, trailing bytes).

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_1: u8 = 0xa1;

/// rsaEncryption, 1.2.840.113549.1.1.1
const RSA_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7
const P256_OID: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Reads one tag-length-value: `(tag, content, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None; // indefinite or absurd lengths
        }
        let (len_bytes, after) = rest.split_at_checked(n)?;
        rest = after;
        len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// Reads a TLV that must have tag `want`: `(content, rest)`.
fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = read_tlv(input)?;
    (tag == want).then_some((content, rest))
}

/// Extracts the PKCS#1 RSAPublicKey from an RSA SubjectPublicKeyInfo.
pub fn rsa_spki_to_pkcs1(spki: &[u8]) -> Option<Vec<u8>> {
    let (body, trailing) = expect(spki, SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (algorithm, rest) = expect(body, SEQUENCE)?;
    let (oid, _params) = expect(algorithm, OID)?;
    if oid != RSA_OID {
        return None;
    }
    let (bits, rest) = expect(rest, BIT_STRING)?;
    if !rest.is_empty() {
        return None;
    }
    let (&unused_bits, key) = bits.split_first()?;
    (unused_bits == 0).then(|| key.to_vec())
}

/// The bit length of the modulus of a PKCS#1 RSAPublicKey.
pub fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let (body, _) = expect(pkcs1, SEQUENCE)?;
    let (modulus, rest) = expect(body, INTEGER)?;
    expect(rest, INTEGER)?;
    let first_nonzero = modulus.iter().position(|b| *b != 0)?;
    let significant = &modulus[first_nonzero..];
    Some(significant.len() * 8 - significant[0].leading_zeros() as usize)
}

/// Parses a SEC1 ECPrivateKey on P-256: the scalar and, if present, the
/// uncompressed public point.
pub fn p256_sec1_parse(sec1: &[u8]) -> Option<([u8; 32], Option<[u8; 65]>)> {
    let (body, trailing) = expect(sec1, SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (version, rest) = expect(body, INTEGER)?;
    if version != [1] {
        return None;
    }
    let (scalar, mut rest) = expect(rest, OCTET_STRING)?;
    let scalar: [u8; 32] = scalar.try_into().ok()?;
    let mut public = None;
    while !rest.is_empty() {
        let (tag, content, after) = read_tlv(rest)?;
        rest = after;
        match tag {
            CONTEXT_0 => {
                let (oid, _) = expect(content, OID)?;
                if oid != P256_OID {
                    return None;
                }
            }
            CONTEXT_1 => {
                let (bits, _) = expect(content, BIT_STRING)?;
                let (&unused, point) = bits.split_first()?;
                if unused != 0 {
                    return None;
                }
                public = Some(point.try_into().ok()?);
            }
            _ => return None,
        }
    }
    Some((scalar, public))
}

/// The SEC1 ECPrivateKey inside a PKCS#8 document (as ring generates them).
pub fn pkcs8_inner_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (body, _) = expect(pkcs8, SEQUENCE)?;
    let (_version, rest) = expect(body, INTEGER)?;
    let (_algorithm, rest) = expect(rest, SEQUENCE)?;
    let (private, _) = expect(rest, OCTET_STRING)?;
    Some(private)
}

/// Encodes a SEC1 ECPrivateKey on P-256 with curve parameters and public
/// point, as go-libp2p does.
pub fn p256_sec1(scalar: &[u8; 32], public: &[u8]) -> Vec<u8> {
    let mut params = vec![OID, P256_OID.len() as u8];
    params.extend_from_slice(&P256_OID);
    let mut bits = vec![0u8];
    bits.extend_from_slice(public);
    let mut body = tlv(INTEGER, &[1]);
    body.extend(tlv(OCTET_STRING, scalar));
    body.extend(tlv(CONTEXT_0, &params));
    body.extend(tlv(CONTEXT_1, &tlv(BIT_STRING, &bits)));
    tlv(SEQUENCE, &body)
}

/// Encodes one tag-length-value (lengths up to 65535).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        len @ 0..0x80 => out.push(len as u8),
        len @ 0x80..0x100 => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// An RSA SubjectPublicKeyInfo whose modulus has `modulus_len` bytes (top bit set), for tests.
#[cfg(test)]
pub fn test_rsa_spki(modulus_len: usize) -> Vec<u8> {
    let mut modulus = vec![0u8];
    modulus.push(0x80);
    modulus.extend(std::iter::repeat_n(0x11, modulus_len - 1));
    let mut key = tlv(INTEGER, &modulus);
    key.extend(tlv(INTEGER, &[1, 0, 1]));
    let pkcs1 = tlv(SEQUENCE, &key);
    let mut algorithm = tlv(OID, &RSA_OID);
    algorithm.extend([0x05, 0x00]);
    let mut bits = vec![0u8];
    bits.extend(pkcs1);
    let mut body = tlv(SEQUENCE, &algorithm);
    body.extend(tlv(BIT_STRING, &bits));
    tlv(SEQUENCE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_random_der_is_rejected() {
        let spki = test_rsa_spki(256);
        assert_eq!(rsa_spki_to_pkcs1(&spki).as_deref().and_then(rsa_modulus_bits), Some(2048));
        for cut in 0..spki.len() {
            assert_eq!(rsa_spki_to_pkcs1(&spki[..cut]), None);
        }
        for bytes in crate::testutil::random_inputs(77, 5_000, 64) {
            let _ = rsa_spki_to_pkcs1(&bytes);
            let _ = rsa_modulus_bits(&bytes);
            let _ = p256_sec1_parse(&bytes);
            let _ = pkcs8_inner_private_key(&bytes);
        }
        assert_eq!(read_tlv(&[0x30, 0x80]), None, "indefinite length");
        assert_eq!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), None, "oversized length");
    }
}
