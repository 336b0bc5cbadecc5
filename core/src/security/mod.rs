//! Connection security: authenticates the remote peer and encrypts the
//! connection. Noise today; TLS 1.3 and plaintext are separate issues.

pub mod noise;
