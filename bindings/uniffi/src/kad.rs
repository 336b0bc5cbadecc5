//! The Kademlia DHT (`/ipfs/kad/1.0.0`) on the uniffi `Node`: `node.kad(...)`
//! returns a `Kad`.

use std::sync::Arc;

use lp2p::protocols::kad::{self, KadError, Mode};

use crate::Lp2pError;
use crate::error::{parse_multiaddr, parse_peer_id};
use crate::node::Node;

impl From<KadError> for Lp2pError {
    fn from(e: KadError) -> Lp2pError {
        let text = e.to_string();
        match e {
            KadError::NoPeers | KadError::NotStored => Lp2pError::NoRoute(text),
            KadError::PeerNotFound => Lp2pError::UnknownPeer(text),
            KadError::InvalidRecord(_) | KadError::MissingPeerId => Lp2pError::InvalidArgument(text),
            KadError::Store(kad::store::StoreError::Full) => Lp2pError::LimitReached(text),
            KadError::Store(_) => Lp2pError::InvalidArgument(text),
            KadError::Timeout => Lp2pError::Timeout(text),
            KadError::Message(_) => Lp2pError::ProtocolError(text),
            KadError::NotADhtPeer(_) => Lp2pError::ProtocolNotSupported(text),
            KadError::Shutdown => Lp2pError::Shutdown(text),
            KadError::Node(inner) => inner.into(),
            _ => Lp2pError::Internal(text),
        }
    }
}

/// A provider of a key found in the DHT.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct KadProvider {
    /// The providing peer.
    pub peer_id: String,
    /// Its addresses (also added to the peer store).
    pub addrs: Vec<String>,
}

/// A running Kademlia DHT on a node. Records are validated by namespace
/// (`/pk/`, `/ipns/`; other namespaces are refused with `InvalidArgument`).
#[derive(uniffi::Object)]
pub struct Kad {
    inner: kad::Kad,
}

/// Whether a DHT serves the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KadMode {
    /// Only queries: the protocol is neither served nor announced.
    Client,
    /// Serves the protocol; other peers put us in their routing tables.
    Server,
    /// Server while the node has a confirmed external address (confirmed by
    /// AutoNAT, or added with `Node.addExternalAddress`), client otherwise.
    Auto,
}

impl From<KadMode> for Mode {
    fn from(mode: KadMode) -> Mode {
        match mode {
            KadMode::Client => Mode::Client,
            KadMode::Server => Mode::Server,
            KadMode::Auto => Mode::Auto,
        }
    }
}

impl From<Mode> for KadMode {
    fn from(mode: Mode) -> KadMode {
        match mode {
            Mode::Client => KadMode::Client,
            Mode::Server => KadMode::Server,
            Mode::Auto => KadMode::Auto,
        }
    }
}

#[uniffi::export]
impl Node {
    /// Starts the Kademlia DHT on this node (once per node) in `mode`.
    /// `protocol` replaces `/ipfs/kad/1.0.0` (e.g. `/ipfs/lan/kad/1.0.0`).
    pub fn kad(&self, mode: KadMode, protocol: Option<String>) -> Arc<Kad> {
        let mut config = kad::Config { mode: mode.into(), ..kad::Config::default() };
        if let Some(protocol) = protocol {
            config.protocol = protocol;
        }
        Arc::new(Kad { inner: self.inner.kad(config) })
    }
}

#[uniffi::export]
impl Kad {
    /// The mode the DHT was started with.
    pub fn mode(&self) -> KadMode {
        self.inner.config().mode.into()
    }

    /// Whether the DHT serves the protocol now: always in `Server` mode,
    /// never in `Client` mode, and in `Auto` mode while the node has a
    /// confirmed external address (it follows a change shortly after).
    pub fn is_server(&self) -> bool {
        self.inner.is_server()
    }

    /// Connects to a DHT peer at `addr` (with /p2p/) and adds it to the
    /// routing table; returns its peer ID.
    pub async fn add_bootstrap_peer(&self, addr: String) -> Result<String, Lp2pError> {
        let addr = parse_multiaddr(&addr)?;
        Ok(self.inner.add_bootstrap_peer(addr).await?.to_string())
    }

    /// Fills the routing table; returns its size.
    pub async fn bootstrap(&self) -> Result<u64, Lp2pError> {
        Ok(self.inner.bootstrap().await? as u64)
    }

    /// Stores a record locally and on the closest peers; returns how many stored it.
    pub async fn put_value(&self, key: Vec<u8>, value: Vec<u8>) -> Result<u64, Lp2pError> {
        Ok(self.inner.put_value(key, value).await? as u64)
    }

    /// The best valid record under `key` once `quorum` peers returned one;
    /// None if nobody has it.
    pub async fn get_value(&self, key: Vec<u8>, quorum: u32) -> Result<Option<Vec<u8>>, Lp2pError> {
        match self.inner.get_value(key, quorum as usize).await {
            Ok(value) => Ok(Some(value)),
            Err(KadError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Announces this node as a provider of `key`; returns how many peers were told.
    pub async fn provide(&self, key: Vec<u8>) -> Result<u64, Lp2pError> {
        Ok(self.inner.provide(key).await? as u64)
    }

    /// Up to `limit` providers of `key`.
    pub async fn providers(&self, key: Vec<u8>, limit: u32) -> Result<Vec<KadProvider>, Lp2pError> {
        let found = self.inner.providers(key, limit as usize).await?;
        Ok(found
            .iter()
            .map(|p| KadProvider {
                peer_id: p.peer.to_string(),
                addrs: p.addrs.iter().map(ToString::to_string).collect(),
            })
            .collect())
    }

    /// The addresses of `peer_id` (peer store first, DHT second); None if not found.
    pub async fn find_peer(&self, peer_id: String) -> Result<Option<Vec<String>>, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        match self.inner.find_peer(peer).await {
            Ok(addrs) => Ok(Some(addrs.iter().map(ToString::to_string).collect())),
            Err(KadError::PeerNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Peers in the routing table.
    pub fn routing_table(&self) -> Vec<String> {
        self.inner.routing_table().iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::NodeConfig;

    fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), fut).await.expect("finished in time") })
    }

    fn node(keypair: Option<Arc<crate::Keypair>>) -> Arc<Node> {
        Node::new(NodeConfig {
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/0".to_string()],
            keypair,
            agent_version: None,
            connection_timeout: None,
            stream_timeout: None,
            stream_io_timeout: None,
            mdns: false,
            autonat: None,
            ..NodeConfig::default()
        })
        .expect("node starts")
    }

    #[test]
    fn dht_through_the_wrappers() {
        let (a, b, c) = (node(None), node(None), node(None));
        let (ka, kb, kc) = (a.kad(KadMode::Server, None), b.kad(KadMode::Server, None), c.kad(KadMode::Server, None));
        block_on(async {
            assert_eq!(kb.add_bootstrap_peer(a.listen_addrs()[0].clone()).await.expect("joins"), a.peer_id());
            assert_eq!(kc.add_bootstrap_peer(a.listen_addrs()[0].clone()).await.expect("joins"), a.peer_id());
            assert!(kc.bootstrap().await.expect("bootstraps") >= 1);

            let c_id: lp2p::PeerId = c.peer_id().parse().expect("peer id");
            let key = [b"/pk/".as_slice(), c_id.as_bytes()].concat();
            let value = c.inner.keypair().public().encode_protobuf();
            assert!(kc.put_value(key.clone(), value.clone()).await.expect("put") >= 1);
            assert_eq!(kb.get_value(key, 1).await.expect("get"), Some(value.clone()));
            assert_eq!(kb.get_value(b"/pk/nobody".to_vec(), 1).await.expect("get"), None);
            let wrong = [b"/pk/".as_slice(), lp2p::PeerId::random().as_bytes()].concat();
            assert!(matches!(kc.put_value(wrong, value).await, Err(Lp2pError::InvalidArgument(_))));

            let content = [[0x12u8, 0x20].as_slice(), &[5u8; 32]].concat();
            assert!(ka.provide(content.clone()).await.expect("provide") >= 1);
            let providers = kc.providers(content, 5).await.expect("providers");
            assert!(providers.iter().any(|p| p.peer_id == a.peer_id()), "{providers:?}");

            let found = kc.find_peer(b.peer_id()).await.expect("find").expect("found");
            assert!(!found.is_empty());
            assert!(kb.routing_table().contains(&a.peer_id()));
        });
    }
}
