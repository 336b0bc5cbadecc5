//! The tokio runtime every node and stream of this library runs on.
//!
//! Foreign callers (a JVM thread, a Swift task) are not tokio threads, so the
//! work of every async call is spawned here and only its result is awaited by
//! the foreign executor.

use std::future::Future;
use std::sync::LazyLock;

use tokio::runtime::{Handle, Runtime};

use crate::error::Lp2pError;

static RUNTIME: LazyLock<std::io::Result<Runtime>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("lp2p-uniffi").enable_all().build()
});

/// The shared runtime's handle, or why it could not start.
pub(crate) fn handle() -> Result<Handle, Lp2pError> {
    match &*RUNTIME {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(e) => Err(Lp2pError::Internal(format!("could not start the runtime: {e}"))),
    }
}

/// Runs `fut` on the shared runtime and waits for its result from any executor.
pub(crate) async fn run<T, F>(fut: F) -> Result<T, Lp2pError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Lp2pError>> + Send + 'static,
{
    match handle()?.spawn(fut).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(Lp2pError::Panic("a task of lp2p panicked".to_string())),
        Err(_) => Err(Lp2pError::Shutdown("the runtime is shutting down".to_string())),
    }
}
