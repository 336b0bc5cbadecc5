//! The tokio runtime that runs every node and every awaitable of this module,
//! and its shutdown at interpreter exit.
//!
//! pyo3-async-runtimes' own tokio runtime is a `'static` that can never be
//! shut down, so at exit its threads may still take the GIL (to resolve an
//! asyncio future, or to drop a Python object) while the interpreter
//! finalizes, which aborts the process ("PyGILState_Release: thread state
//! must be current", pyo3-async-runtimes issue #40). This runtime is ours:
//! `lp2p/__init__.py` registers [`shutdown`] with `atexit`, which stops it
//! (waiting, without the GIL, for tasks that are inside Python) before
//! finalization starts.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, Runtime as GenericRuntime};
use tokio::runtime::{Handle, Runtime};

/// How long [`shutdown`] waits for running tasks at exit.
const EXIT_GRACE: Duration = Duration::from_secs(2);

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
static HANDLE: OnceLock<Handle> = OnceLock::new();

/// The runtime's handle; starts the runtime on first use. After [`shutdown`]
/// the handle stays valid but runs nothing (tasks spawned then are dropped).
pub(crate) fn handle() -> Handle {
    HANDLE.get_or_init(start).clone()
}

fn start() -> Handle {
    let runtime = match tokio::runtime::Builder::new_multi_thread().thread_name("lp2p-py").enable_all().build() {
        Ok(runtime) => runtime,
        // Out of threads or file descriptors at import: nothing sensible to do.
        Err(e) => panic!("lp2p: cannot start the tokio runtime: {e}"),
    };
    let handle = runtime.handle().clone();
    *RUNTIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(runtime);
    handle
}

/// Stops the runtime: called by `atexit`. Waits (without the GIL, so that
/// tasks inside Python can finish) up to a grace period.
#[pyfunction]
pub(crate) fn shutdown(py: Python<'_>) {
    let runtime = RUNTIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    if let Some(runtime) = runtime {
        py.detach(|| runtime.shutdown_timeout(EXIT_GRACE));
    }
}

/// pyo3-async-runtimes' runtime interface over [`handle`].
pub(crate) struct Lp2pRuntime;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl GenericRuntime for Lp2pRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        handle().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        handle().spawn_blocking(f)
    }
}

impl ContextExt for Lp2pRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}

/// An asyncio awaitable of `fut`, run on this runtime. Cancelling the
/// awaitable drops `fut`.
pub(crate) fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<Lp2pRuntime, F, T>(py, fut)
}
