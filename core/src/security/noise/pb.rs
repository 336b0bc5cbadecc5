//! The Noise handshake payload, written by hand to match `proto/noise.proto`.

/// `noise.NoiseExtensions`
#[derive(Clone, PartialEq, prost::Message)]
pub struct NoiseExtensions {
    /// Certificate hashes of a WebTransport listener.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub webtransport_certhashes: Vec<Vec<u8>>,
    /// Stream muxers the sender supports, by preference.
    #[prost(string, repeated, tag = "2")]
    pub stream_muxers: Vec<String>,
}

/// `noise.NoiseHandshakePayload`
#[derive(Clone, PartialEq, prost::Message)]
pub struct NoiseHandshakePayload {
    /// The sender's libp2p public key, protobuf-encoded.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub identity_key: Option<Vec<u8>>,
    /// Signature of `noise-libp2p-static-key:` + the Noise static key.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub identity_sig: Option<Vec<u8>>,
    /// Extensions.
    #[prost(message, optional, tag = "4")]
    pub extensions: Option<NoiseExtensions>,
}
