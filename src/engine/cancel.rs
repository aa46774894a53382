//! Cancellation, passed into a walk rather than read from a global: Ctrl-C sets it, and
//! the walk stops after the batch in flight, which commits or rolls back whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by the walk and whatever may stop it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token that Ctrl-C cancels.
    pub fn on_ctrl_c() -> Self {
        let cancel = Self::default();
        let token = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("Ctrl-C: finishing the batch in flight, then stopping");
                token.cancel();
            }
        });
        cancel
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
