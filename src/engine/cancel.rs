//! Cancellation, passed into a walk rather than read from a global: Ctrl-C, SIGTERM
//! (what `kill`, systemd, Kubernetes and CI runners send) and SIGHUP (a closed
//! terminal) set it, and the walk stops after the batch in flight, which commits or
//! rolls back whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by the walk and whatever may stop it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token that Ctrl-C, SIGTERM and SIGHUP cancel.
    pub fn on_signals() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let cancel = Self::default();
        for (kind, name) in [
            (SignalKind::interrupt(), "Ctrl-C"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ] {
            let Ok(mut signals) = signal(kind) else {
                tracing::debug!("cannot listen for {name}");
                continue;
            };
            let token = cancel.clone();
            tokio::spawn(async move {
                if signals.recv().await.is_some() {
                    tracing::warn!("{name}: finishing the batch in flight, then stopping");
                    token.cancel();
                }
            });
        }
        cancel
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
