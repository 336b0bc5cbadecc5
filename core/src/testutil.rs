//! Helpers shared by the unit tests.

/// `count` pseudo-random byte strings of at most `max_len` bytes, the same
/// for the same `seed`: what every decoder's random-input test feeds it.
pub fn random_inputs(seed: u64, count: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64: fast, deterministic, good enough to wander input space.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |_| {
        let len = (next() % (max_len as u64 + 1)) as usize;
        (0..len).map(|_| next() as u8).collect()
    })
}
