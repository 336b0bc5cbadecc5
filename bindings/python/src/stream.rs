//! `Stream`: one lp2p stream, readable and writable at the same time from
//! asyncio tasks.
//!
//! The stream is split into a read half and a write half, each behind its own
//! async mutex, so that a pending read never holds up a write (an echo needs
//! both at once). A reset cancels the token every pending operation selects
//! on, so that it releases its half at once; the halves are then joined again
//! and the stream reset.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::errors::{self, InvalidArgument, StreamClosed, StreamReset};
use crate::runtime;

/// The largest `read(n)` buffer: bigger requests get at most this much.
const MAX_READ_CHUNK: usize = 1 << 20;
/// The largest `read_exactly(n)`: the whole buffer is allocated up front.
const MAX_READ_EXACTLY: usize = 1 << 30;

struct Shared {
    peer: String,
    protocol: String,
    reader: Mutex<Option<ReadHalf<lp2p::Stream>>>,
    writer: Mutex<Option<WriteHalf<lp2p::Stream>>>,
    reset: CancellationToken,
}

/// A bidirectional stream to a peer for one protocol.
#[pyclass(name = "Stream", module = "lp2p._native", frozen)]
pub(crate) struct PyStream {
    shared: Arc<Shared>,
}

impl PyStream {
    pub(crate) fn new(stream: lp2p::Stream) -> PyStream {
        let peer = stream.peer().to_string();
        let protocol = stream.protocol().to_string();
        let (reader, writer) = tokio::io::split(stream);
        PyStream {
            shared: Arc::new(Shared {
                peer,
                protocol,
                reader: Mutex::new(Some(reader)),
                writer: Mutex::new(Some(writer)),
                reset: CancellationToken::new(),
            }),
        }
    }
}

fn reset_error() -> PyErr {
    StreamReset::new_err("the stream was reset")
}

fn bytes_object(data: &[u8]) -> Py<PyBytes> {
    Python::attach(|py| PyBytes::new(py, data).unbind())
}

/// Reads up to `n` bytes; empty at the end of the stream.
async fn read_some(shared: Arc<Shared>, n: usize) -> PyResult<Py<PyBytes>> {
    let mut guard = shared.reader.lock().await;
    let half = guard.as_mut().ok_or_else(reset_error)?;
    let mut buf = vec![0u8; n.min(MAX_READ_CHUNK)];
    let read = tokio::select! {
        biased;
        _ = shared.reset.cancelled() => return Err(reset_error()),
        read = half.read(&mut buf) => read.map_err(|e| errors::from_io(&e))?,
    };
    Ok(bytes_object(&buf[..read]))
}

/// Reads exactly `n` bytes, or fails with `StreamClosed` if the stream ends first.
async fn read_exactly(shared: Arc<Shared>, n: usize) -> PyResult<Py<PyBytes>> {
    let mut guard = shared.reader.lock().await;
    let half = guard.as_mut().ok_or_else(reset_error)?;
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let read = tokio::select! {
            biased;
            _ = shared.reset.cancelled() => return Err(reset_error()),
            read = half.read(&mut buf[filled..]) => read.map_err(|e| errors::from_io(&e))?,
        };
        if read == 0 {
            return Err(StreamClosed::new_err(format!("the stream ended after {filled} of {n} bytes")));
        }
        filled += read;
    }
    Ok(bytes_object(&buf))
}

/// Writes all of `data`, waiting while the peer's receive window is full.
async fn write_all(shared: Arc<Shared>, data: Vec<u8>) -> PyResult<()> {
    let mut guard = shared.writer.lock().await;
    let half = guard.as_mut().ok_or_else(reset_error)?;
    tokio::select! {
        biased;
        _ = shared.reset.cancelled() => Err(reset_error()),
        written = half.write_all(&data) => written.map_err(|e| errors::from_io(&e)),
    }
}

/// Closes the write side: the remote reads the end of the stream.
async fn close_write(shared: Arc<Shared>) -> PyResult<()> {
    let mut guard = shared.writer.lock().await;
    let half = guard.as_mut().ok_or_else(reset_error)?;
    // A reset may be asked for but not yet done: never send a FIN after it.
    if shared.reset.is_cancelled() {
        return Err(reset_error());
    }
    half.shutdown().await.map_err(|e| errors::from_io(&e))
}

/// Joins the halves once pending operations let go of them, and resets.
async fn reset(shared: Arc<Shared>) {
    let reader = shared.reader.lock().await.take();
    let writer = shared.writer.lock().await.take();
    if let (Some(reader), Some(writer)) = (reader, writer) {
        let mut stream = reader.unsplit(writer);
        stream.reset();
    }
}

#[pymethods]
impl PyStream {
    /// The remote peer's ID.
    #[getter]
    fn peer(&self) -> &str {
        &self.shared.peer
    }

    /// The negotiated protocol.
    #[getter]
    fn protocol(&self) -> &str {
        &self.shared.protocol
    }

    /// Reads up to `n` bytes (at least 1 unless the stream ended: then b"").
    fn read<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyAny>> {
        if n == 0 {
            return Err(InvalidArgument::new_err("read(n) needs n > 0"));
        }
        runtime::future_into_py(py, read_some(Arc::clone(&self.shared), n))
    }

    /// Reads exactly `n` bytes; `StreamClosed` if the stream ends first.
    fn read_exactly<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyAny>> {
        if n > MAX_READ_EXACTLY {
            return Err(InvalidArgument::new_err(format!("read_exactly(n) takes at most {MAX_READ_EXACTLY} bytes")));
        }
        runtime::future_into_py(py, read_exactly(Arc::clone(&self.shared), n))
    }

    /// Writes all of `data`; completes once the engine has taken it all.
    fn write<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let data = data.to_vec();
        runtime::future_into_py(py, write_all(Arc::clone(&self.shared), data))
    }

    /// Closes the write side (the remote reads the end); reading goes on.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        runtime::future_into_py(py, close_write(Arc::clone(&self.shared)))
    }

    /// Aborts both directions now; pending and later reads and writes raise
    /// `StreamReset`.
    fn reset(&self) {
        self.shared.reset.cancel();
        runtime::handle().spawn(reset(Arc::clone(&self.shared)));
    }

    fn __repr__(&self) -> String {
        format!("<Stream peer={} protocol={}>", self.shared.peer, self.shared.protocol)
    }
}
