//! Cross-crate and interop tests of lp2p live in `tests/`; this library only
//! holds helpers they share.

pub mod hostile;

/// A deterministic byte pattern of `len` bytes, different for each `seed`,
/// so that a transfer can be checked end to end.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_differs_by_seed_and_is_stable() {
        assert_eq!(super::pattern(64, 1), super::pattern(64, 1));
        assert_ne!(super::pattern(64, 1), super::pattern(64, 2));
    }
}
