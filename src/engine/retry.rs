//! How a batch that meets a busy database (a lock timeout, a deadlock, a busy file)
//! waits and tries again: exponential backoff with jitter, a bounded number of tries,
//! then the batch's range is deferred to a later pass.

use std::time::Duration;

/// Tries of one batch and the waits between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries of a batch before it is deferred to the end of the table.
    pub attempts: u32,
    /// The first wait; each next one doubles, up to `max_wait`.
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_wait: Duration::from_millis(200),
            max_wait: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Whether a batch that has failed `failures` times may try again.
    pub fn may_retry(&self, failures: u32) -> bool {
        failures < self.attempts
    }

    /// The wait after the `failure`-th failure (from 1): between half and all of the
    /// doubled wait, so that two runs that met the same lock do not meet again.
    pub fn wait(&self, failure: u32) -> Duration {
        let doubled = self
            .first_wait
            .saturating_mul(1 << failure.saturating_sub(1).min(16));
        let base = doubled.min(self.max_wait).as_millis() as u64;
        let jitter = rand::random::<u64>() % (base / 2 + 1);
        Duration::from_millis(base / 2 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_after_its_bound() {
        let policy = RetryPolicy::default();
        assert!((1..5).all(|failures| policy.may_retry(failures)));
        assert!(!policy.may_retry(5));
    }

    #[test]
    fn waits_grow_and_stay_capped() {
        let policy = RetryPolicy::default();
        for failure in 1..40 {
            let wait = policy.wait(failure);
            assert!(wait <= policy.max_wait, "{failure}: {wait:?}");
        }
        assert!(policy.wait(1) <= Duration::from_millis(200));
        assert!(policy.wait(4) >= Duration::from_millis(800));
    }
}
