//! `Keypair`: generate, encode and decode identity keys.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{InvalidArgument, InvalidKey};

/// A node's identity key pair.
#[pyclass(name = "Keypair", module = "lp2p._native", frozen)]
pub(crate) struct PyKeypair {
    pub(crate) inner: lp2p::Keypair,
}

#[pymethods]
impl PyKeypair {
    /// A fresh key of `key_type`: "ed25519" (default), "ecdsa" or "secp256k1".
    #[staticmethod]
    #[pyo3(signature = (key_type = "ed25519"))]
    fn generate(key_type: &str) -> PyResult<PyKeypair> {
        let inner = match key_type {
            "ed25519" => lp2p::Keypair::generate_ed25519(),
            "ecdsa" => lp2p::Keypair::generate_ecdsa(),
            "secp256k1" => lp2p::Keypair::generate_secp256k1(),
            other => return Err(InvalidArgument::new_err(format!("unknown key type {other:?}"))),
        };
        Ok(PyKeypair { inner })
    }

    /// Decodes the libp2p protobuf encoding of a private key.
    #[staticmethod]
    fn from_protobuf(data: &[u8]) -> PyResult<PyKeypair> {
        match lp2p::Keypair::from_protobuf_encoding(data) {
            Ok(inner) => Ok(PyKeypair { inner }),
            Err(e) => Err(InvalidKey::new_err(e.to_string())),
        }
    }

    /// The libp2p protobuf encoding of the private key (secret: store it safely).
    fn to_protobuf<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_protobuf_encoding())
    }

    /// The peer ID of this key.
    #[getter]
    fn peer_id(&self) -> String {
        self.inner.peer_id().to_string()
    }

    /// The public key, protobuf-encoded.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public().encode_protobuf())
    }
}
