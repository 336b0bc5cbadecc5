//! The C ABI of lp2p (`liblp2p.so`, `liblp2p.a`, header `include/lp2p.h`).
//!
//! Conventions (the header repeats them for C readers):
//! - every fallible function returns an [`lp2p_status`]; outputs are written
//!   only on success; `lp2p_last_error_message` gives the text of the last
//!   failure on the calling thread;
//! - every object made by `_new`/`_start`/`_generate` has a `_free`, and
//!   `_free(NULL)` does nothing;
//! - each parameter's documentation says who owns it; borrowed buffers are
//!   used only during the call;
//! - every export runs inside [`error::ffi_boundary!`]: panics become
//!   `LP2P_STATUS_PANIC`, NULL pointers `LP2P_STATUS_NULL_ARGUMENT`;
//! - callbacks take `userdata` first; one that keeps userdata has a finalizer;
//! - streams meet back-pressure through `LP2P_STATUS_WOULD_BLOCK` from
//!   [`lp2p_stream_write`]: keep the bytes, [`lp2p_stream_pause`] the source,
//!   write again and [`lp2p_stream_resume`] from the write's completion, with
//!   [`lp2p_stream_queued_bytes`] for high and low marks (the header's
//!   "Back-pressure recipe", in `ffi/cbindgen.toml`, spells it out).

#![allow(non_camel_case_types)]
// The exports check their pointers at run time (the boundary); the
// `unsafe extern "C"` signature is what tells C callers they pass raw pointers.
#![allow(clippy::missing_safety_doc)]

mod args;
mod bootstrap;
mod config;
mod error;
mod kad;
mod keys;
mod log;
mod node;
mod rendezvous;
mod resources;
mod stream;

use std::ffi::c_char;

pub use args::{
    lp2p_bytes_free, lp2p_string_free, lp2p_string_list, lp2p_string_list_free, lp2p_string_list_get,
    lp2p_string_list_len,
};
pub use bootstrap::*;
pub use config::*;
pub use error::{lp2p_last_error_message, lp2p_status, lp2p_status_name};
pub use kad::*;
pub use keys::*;
pub use log::*;
pub use node::*;
pub use rendezvous::*;
pub use resources::*;
pub use stream::*;

/// The major version of the lp2p library this header belongs to.
pub const LP2P_VERSION_MAJOR: u32 = 0;
/// The minor version.
pub const LP2P_VERSION_MINOR: u32 = 1;
/// The patch version.
pub const LP2P_VERSION_PATCH: u32 = 0;
/// The version as one comparable number: `MAJOR * 1000000 + MINOR * 1000 + PATCH`.
pub const LP2P_VERSION_NUMBER: u32 = LP2P_VERSION_MAJOR * 1000000 + LP2P_VERSION_MINOR * 1000 + LP2P_VERSION_PATCH;

/// The version of the library loaded at run time, `"MAJOR.MINOR.PATCH"`: a
/// static string, not to be freed. Compare it with `LP2P_VERSION_STRING` to
/// catch a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn lp2p_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn number(name: &str) -> u32 {
        std::env::var(name)
            .ok()
            .or_else(|| match name {
                "CARGO_PKG_VERSION_MAJOR" => Some(env!("CARGO_PKG_VERSION_MAJOR").to_string()),
                "CARGO_PKG_VERSION_MINOR" => Some(env!("CARGO_PKG_VERSION_MINOR").to_string()),
                _ => Some(env!("CARGO_PKG_VERSION_PATCH").to_string()),
            })
            .and_then(|s| s.parse().ok())
            .unwrap_or(u32::MAX)
    }

    #[test]
    fn version_constants_match_cargo_toml() {
        let major = number("CARGO_PKG_VERSION_MAJOR");
        let minor = number("CARGO_PKG_VERSION_MINOR");
        let patch = number("CARGO_PKG_VERSION_PATCH");
        assert_eq!(LP2P_VERSION_MAJOR, major);
        assert_eq!(LP2P_VERSION_MINOR, minor);
        assert_eq!(LP2P_VERSION_PATCH, patch);
        assert_eq!(env!("CARGO_PKG_VERSION"), format!("{major}.{minor}.{patch}"));
        assert_eq!(LP2P_VERSION_NUMBER, major * 1_000_000 + minor * 1_000 + patch);
        // SAFETY: lp2p_version returns a static NUL-terminated string.
        let runtime = unsafe { CStr::from_ptr(lp2p_version()) };
        assert_eq!(runtime.to_str().ok(), Some(env!("CARGO_PKG_VERSION")));
    }
}
