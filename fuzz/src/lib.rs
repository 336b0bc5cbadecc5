//! Helpers shared by the fuzz targets.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls `fut` to completion on this thread, for futures that never wait
/// on anything but their input (reads from a byte slice).
pub fn block_on_ready<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    // A future over a byte slice is ready at once; a bound instead of a loop
    // that could spin forever on a future that is not.
    for _ in 0..1_000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
    }
    None
}

/// Owned strings from string slices.
pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Splits `data` into chunks whose sizes come from `sizes` (cycled; a size
/// of 0 counts as 1), so that a machine sees its input cut anywhere.
pub fn chunks<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes.get(i % sizes.len().max(1)).map_or(rest.len(), |s| usize::from(*s).max(1));
        let (head, tail) = rest.split_at(size.min(rest.len()));
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}
