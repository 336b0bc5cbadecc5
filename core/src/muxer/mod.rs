//! Stream multiplexing: many independent streams over one secured
//! connection. yamux today; mplex is a separate issue.

pub mod yamux;
