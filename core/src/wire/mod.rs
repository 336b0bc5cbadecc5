//! Byte-level building blocks shared by every protocol: unsigned varints and
//! varint-length-prefixed frames.

pub mod frame;
pub mod varint;

pub use frame::{FrameError, read_frame, write_frame};
pub use varint::VarintError;
