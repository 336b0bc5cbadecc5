#![no_main]
//! `/dnsaddr/` resolution (the bootstrap list): TXT records `dnsaddr=<multiaddr>`
//! from a stand-in resolver whose answers the input gives, resolved as the
//! node does (recursion, suffix match, limits).

use std::collections::HashMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lp2p::Multiaddr;
use lp2p::protocols::bootstrap::{self, DnsError, Limits, TxtResolver};

#[derive(Arbitrary, Debug)]
struct Input {
    /// The address to resolve.
    start: String,
    /// TXT records by name (`_dnsaddr.<domain>`).
    records: Vec<(String, Vec<String>)>,
}

struct Fake(HashMap<String, Vec<String>>);

impl TxtResolver for Fake {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        self.0.get(name).cloned().ok_or_else(|| DnsError::NotFound(name.into()))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime"))
}

fuzz_target!(|input: Input| {
    let Ok(start) = input.start.parse::<Multiaddr>() else { return };
    let fake = Fake(input.records.into_iter().collect());
    let limits = Limits::default();
    let Ok(found) = runtime().block_on(bootstrap::resolve(&fake, &start, &limits)) else { return };
    assert!(found.len() <= limits.max_results.max(1));
    for addr in found {
        assert_eq!(addr.to_string().parse::<Multiaddr>(), Ok(addr));
    }
});
