//! `lp2p._native`: the pyo3 layer under the pure-Python package `lp2p`.
//!
//! Thin by design: it maps lp2p handles to Python objects, lp2p errors to
//! the exception classes of [`errors`], and tokio futures to asyncio
//! awaitables (pyo3-async-runtimes). Cancelling the asyncio future drops the
//! Rust future. No protocol logic lives here; `python/lp2p/__init__.py` holds
//! the Python-facing API (context managers, handler tasks, dataclasses).

mod errors;
mod kad;
mod keys;
mod node;
mod runtime;
mod stream;

use pyo3::prelude::*;

/// The module `lp2p._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(runtime::shutdown, m)?)?;
    m.add_class::<keys::PyKeypair>()?;
    m.add_class::<kad::PyKad>()?;
    m.add_class::<node::PyNode>()?;
    m.add_class::<node::PyEvents>()?;
    m.add_class::<stream::PyStream>()?;
    m.add("IPFS_BOOTSTRAP", lp2p::protocols::bootstrap::IPFS_BOOTSTRAP.to_vec())?;
    Ok(())
}
