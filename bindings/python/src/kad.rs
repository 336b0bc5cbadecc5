//! `Kad`: the Kademlia DHT (`/ipfs/kad/1.0.0`) on a node.

use std::borrow::Cow;

use lp2p::protocols::kad::{self, KadError, Mode};
use pyo3::prelude::*;

use crate::errors::{self, InvalidArgument, LimitReached, NoRoute, NodeClosed, ProtocolError, ProtocolNotSupported};
use crate::errors::{InternalError, Timeout};
use crate::node::PyNode;
use crate::runtime;

/// The exception for a DHT error. "Not found" is not one: the methods
/// return None for it.
fn from_kad(e: KadError) -> PyErr {
    let message = e.to_string();
    match e {
        KadError::NoPeers | KadError::NotStored | KadError::PeerNotFound => NoRoute::new_err(message),
        KadError::InvalidRecord(_) | KadError::MissingPeerId => InvalidArgument::new_err(message),
        KadError::Store(kad::store::StoreError::Full) => LimitReached::new_err(message),
        KadError::Store(_) => InvalidArgument::new_err(message),
        KadError::Timeout => Timeout::new_err(message),
        KadError::Message(_) => ProtocolError::new_err(message),
        KadError::NotADhtPeer(_) => ProtocolNotSupported::new_err(message),
        KadError::Shutdown => NodeClosed::new_err(message),
        KadError::Node(inner) => errors::from_lp2p(inner),
        _ => InternalError::new_err(message),
    }
}

fn parse_mode(mode: &str) -> PyResult<Mode> {
    match mode {
        "client" => Ok(Mode::Client),
        "server" => Ok(Mode::Server),
        "auto" => Ok(Mode::Auto),
        other => {
            Err(InvalidArgument::new_err(format!("mode must be \"client\", \"server\" or \"auto\", not {other:?}")))
        }
    }
}

/// A running Kademlia DHT on a node.
#[pyclass(name = "Kad", module = "lp2p._native", frozen)]
pub(crate) struct PyKad {
    kad: kad::Kad,
}

#[pymethods]
impl PyKad {
    /// Starts the DHT on `node` in `mode`: "server" serves and announces the
    /// protocol, "client" only queries, "auto" (the default) serves while the
    /// node has a confirmed external address. `server` (a bool) is the older
    /// spelling of "server"/"client" and may not be given with `mode`.
    /// `protocol` replaces `/ipfs/kad/1.0.0` (e.g. `/ipfs/lan/kad/1.0.0`).
    #[new]
    #[pyo3(signature = (node, mode = None, protocol = None, *, server = None))]
    fn new(
        py: Python<'_>,
        node: PyRef<'_, PyNode>,
        mode: Option<&str>,
        protocol: Option<String>,
        server: Option<bool>,
    ) -> PyResult<PyKad> {
        let mode = match (mode, server) {
            (Some(_), Some(_)) => return Err(InvalidArgument::new_err("give `mode` or `server`, not both")),
            (Some(mode), None) => parse_mode(mode)?,
            (None, Some(true)) => Mode::Server,
            (None, Some(false)) => Mode::Client,
            (None, None) => Mode::Auto,
        };
        let mut config = kad::Config { mode, ..kad::Config::default() };
        if let Some(protocol) = protocol {
            config.protocol = protocol;
        }
        let node = node.node.clone();
        let kad = py.detach(|| {
            let handle = runtime::handle();
            let _runtime = handle.enter();
            node.kad(config)
        });
        Ok(PyKad { kad })
    }

    /// The mode the DHT was started with: "client", "server" or "auto".
    #[getter]
    fn mode(&self) -> &'static str {
        match self.kad.config().mode {
            Mode::Client => "client",
            Mode::Server => "server",
            Mode::Auto => "auto",
        }
    }

    /// Whether the DHT serves the protocol now (in "auto" mode: while the
    /// node has a confirmed external address).
    #[getter]
    fn is_server(&self) -> bool {
        self.kad.is_server()
    }

    /// Connects to a DHT peer at `addr` (with /p2p/) and adds it to the
    /// routing table; resolves to its peer ID.
    fn add_bootstrap_peer<'py>(&self, py: Python<'py>, addr: &str) -> PyResult<Bound<'py, PyAny>> {
        let addr = errors::parse_addr(addr)?;
        let kad = self.kad.clone();
        runtime::future_into_py(
            py,
            async move { Ok(kad.add_bootstrap_peer(addr).await.map_err(from_kad)?.to_string()) },
        )
    }

    /// Fills the routing table; resolves to its size.
    fn bootstrap<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let kad = self.kad.clone();
        runtime::future_into_py(py, async move { kad.bootstrap().await.map_err(from_kad) })
    }

    /// Stores a record locally and on the closest peers; resolves to how many stored it.
    fn put_value<'py>(&self, py: Python<'py>, key: Vec<u8>, value: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let kad = self.kad.clone();
        runtime::future_into_py(py, async move { kad.put_value(key, value).await.map_err(from_kad) })
    }

    /// The best valid record under `key` (None: not found).
    #[pyo3(signature = (key, quorum = 1))]
    fn get_value<'py>(&self, py: Python<'py>, key: Vec<u8>, quorum: usize) -> PyResult<Bound<'py, PyAny>> {
        let kad = self.kad.clone();
        runtime::future_into_py(py, async move {
            match kad.get_value(key, quorum).await {
                Ok(value) => Ok(Some(Cow::<'static, [u8]>::Owned(value))),
                Err(KadError::NotFound) => Ok(None),
                Err(e) => Err(from_kad(e)),
            }
        })
    }

    /// Announces that this node provides `key`; resolves to how many peers were told.
    fn provide<'py>(&self, py: Python<'py>, key: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let kad = self.kad.clone();
        runtime::future_into_py(py, async move { kad.provide(key).await.map_err(from_kad) })
    }

    /// Up to `limit` providers of `key`, each `(peer, addrs)`.
    #[pyo3(signature = (key, limit = 20))]
    fn providers<'py>(&self, py: Python<'py>, key: Vec<u8>, limit: usize) -> PyResult<Bound<'py, PyAny>> {
        let kad = self.kad.clone();
        runtime::future_into_py(py, async move {
            let found = kad.providers(key, limit).await.map_err(from_kad)?;
            let out: Vec<(String, Vec<String>)> =
                found.iter().map(|p| (p.peer.to_string(), p.addrs.iter().map(ToString::to_string).collect())).collect();
            Ok(out)
        })
    }

    /// The addresses of `peer` (peer store first, DHT second); None if not found.
    fn find_peer<'py>(&self, py: Python<'py>, peer: &str) -> PyResult<Bound<'py, PyAny>> {
        let peer = errors::parse_peer(peer)?;
        let kad = self.kad.clone();
        runtime::future_into_py(py, async move {
            match kad.find_peer(peer).await {
                Ok(addrs) => Ok(Some(addrs.iter().map(ToString::to_string).collect::<Vec<String>>())),
                Err(KadError::PeerNotFound) => Ok(None),
                Err(e) => Err(from_kad(e)),
            }
        })
    }

    /// Peers in the routing table.
    fn routing_table(&self) -> Vec<String> {
        self.kad.routing_table().iter().map(ToString::to_string).collect()
    }
}
