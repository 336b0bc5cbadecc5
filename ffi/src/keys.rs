//! Key pairs: generate, derive from a seed, save and load.

use std::ffi::c_char;

use lp2p_core::Keypair;

use crate::args::{arg_bytes, arg_ref, c_bytes, c_string, check_out, write_out};
use crate::error::{FfiError, ffi_boundary, lp2p_status};

/// A key pair (the node's identity). Create it with
/// `lp2p_keypair_generate_ed25519`, `lp2p_keypair_from_ed25519_seed` or
/// `lp2p_keypair_from_bytes`; free it with `lp2p_keypair_free`. Immutable:
/// may be used from several threads at once.
pub struct lp2p_keypair {
    pub(crate) inner: Keypair,
}

fn hand_out(out: *mut *mut lp2p_keypair, inner: Keypair) {
    // SAFETY: callers check `out` with check_out first.
    unsafe { write_out(out, Box::into_raw(Box::new(lp2p_keypair { inner }))) }
}

/// Generates a new random Ed25519 key pair.
///
/// - `out`: borrowed, written on success with a new key pair owned by the
///   caller (free with `lp2p_keypair_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_generate_ed25519(out: *mut *mut lp2p_keypair) -> lp2p_status {
    ffi_boundary!({
        check_out(out, "out")?;
        hand_out(out, Keypair::generate_ed25519());
        Ok(())
    })
}

/// Derives an Ed25519 key pair from a 32-byte secret seed (the same seed
/// always gives the same key and peer ID).
///
/// - `seed`: borrowed during the call; `seed_len` must be 32
///   (`LP2P_STATUS_INVALID_ARGUMENT` otherwise).
/// - `out`: borrowed, written on success with a new key pair owned by the
///   caller (free with `lp2p_keypair_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_from_ed25519_seed(
    seed: *const u8,
    seed_len: usize,
    out: *mut *mut lp2p_keypair,
) -> lp2p_status {
    ffi_boundary!({
        check_out(out, "out")?;
        // SAFETY: the caller passes seed_len readable bytes.
        let seed = unsafe { arg_bytes(seed, seed_len, "seed") }?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| {
            FfiError::new(lp2p_status::InvalidArgument, format!("an Ed25519 seed is 32 bytes, not {seed_len}"))
        })?;
        hand_out(out, Keypair::ed25519_from_seed(seed));
        Ok(())
    })
}

/// Encodes a key pair, private key included, in the libp2p protobuf format
/// (for saving it to a file). Treat the bytes as a secret.
///
/// - `keypair`: borrowed.
/// - `out_bytes`, `out_len`: borrowed, written on success with a buffer owned
///   by the caller (free with `lp2p_bytes_free(bytes, len)`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_to_bytes(
    keypair: *const lp2p_keypair,
    out_bytes: *mut *mut u8,
    out_len: *mut usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL keypair comes from this library.
        let keypair = unsafe { arg_ref(keypair, "keypair") }?;
        check_out(out_bytes, "out_bytes")?;
        check_out(out_len, "out_len")?;
        let (ptr, len) = c_bytes(keypair.inner.to_protobuf_encoding());
        // SAFETY: both outputs checked above.
        unsafe {
            write_out(out_bytes, ptr);
            write_out(out_len, len);
        }
        Ok(())
    })
}

/// Decodes a key pair saved with `lp2p_keypair_to_bytes`.
///
/// - `bytes`: borrowed during the call, `len` bytes.
/// - `out`: borrowed, written on success with a new key pair owned by the
///   caller (free with `lp2p_keypair_free`).
///
/// Returns `LP2P_STATUS_INVALID_KEY` when the bytes do not decode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_from_bytes(
    bytes: *const u8,
    len: usize,
    out: *mut *mut lp2p_keypair,
) -> lp2p_status {
    ffi_boundary!({
        check_out(out, "out")?;
        // SAFETY: the caller passes len readable bytes.
        let bytes = unsafe { arg_bytes(bytes, len, "bytes") }?;
        let inner = Keypair::from_protobuf_encoding(bytes)
            .map_err(|e| FfiError::new(lp2p_status::InvalidKey, format!("key bytes do not decode: {e}")))?;
        hand_out(out, inner);
        Ok(())
    })
}

/// The public key of a key pair, in the libp2p protobuf encoding (what
/// identify sends and a peer ID is derived from).
///
/// - `keypair`: borrowed.
/// - `out_bytes`, `out_len`: borrowed, written on success with a buffer owned
///   by the caller (free with `lp2p_bytes_free(bytes, len)`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_public_key(
    keypair: *const lp2p_keypair,
    out_bytes: *mut *mut u8,
    out_len: *mut usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL keypair comes from this library.
        let keypair = unsafe { arg_ref(keypair, "keypair") }?;
        check_out(out_bytes, "out_bytes")?;
        check_out(out_len, "out_len")?;
        let (ptr, len) = c_bytes(keypair.inner.public().encode_protobuf());
        // SAFETY: both outputs checked above.
        unsafe {
            write_out(out_bytes, ptr);
            write_out(out_len, len);
        }
        Ok(())
    })
}

/// The peer ID of a key pair, as a base58 string (`12D3KooW...`).
///
/// - `keypair`: borrowed.
/// - `out`: borrowed, written on success with a string owned by the caller
///   (free with `lp2p_string_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_peer_id(keypair: *const lp2p_keypair, out: *mut *mut c_char) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL keypair comes from this library.
        let keypair = unsafe { arg_ref(keypair, "keypair") }?;
        check_out(out, "out")?;
        let id = keypair.inner.public().to_peer_id().to_string();
        // SAFETY: checked above.
        unsafe { write_out(out, c_string(&id)) };
        Ok(())
    })
}

/// Frees a key pair. NULL does nothing.
///
/// - `keypair`: owned by the caller until this call, then freed. Nodes started
///   with it keep their own copy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_keypair_free(keypair: *mut lp2p_keypair) {
    ffi_boundary!((), {
        if !keypair.is_null() {
            // SAFETY: keypair came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(keypair) });
        }
        Ok(())
    })
}
