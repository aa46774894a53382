//! How many rows the next batch reads. Fixed at `--batch-size` unless `--batch-time` is
//! given; then it grows gently toward batches of about that time and shrinks at once
//! after a slow batch or a lock timeout, so a run slows down the moment the database
//! does and speeds up only as fast as it keeps up.

use std::time::Duration;

use crate::settings::{MAX_BATCH, MIN_BATCH};

/// Growth per batch at most: one fast batch does not make the next one huge.
const MAX_GROWTH: f64 = 1.2;
/// Below this share of the target a batch is fast enough to grow from.
const GROW_BELOW: f64 = 0.9;
/// Weight of the newest batch in the smoothed time per row.
const SMOOTHING: f64 = 0.3;

/// The batch size of one walk, and the sizes it used.
#[derive(Debug, Clone)]
pub struct BatchSizer {
    size: u64,
    target: Option<Duration>,
    /// Smoothed seconds per row.
    per_row: Option<f64>,
    smallest: u64,
    largest: u64,
}

impl BatchSizer {
    /// Starts at `size`; adapts toward `target` when one is given.
    pub fn new(size: u64, target: Option<Duration>) -> Self {
        let size = match target {
            Some(_) => size.clamp(MIN_BATCH, MAX_BATCH),
            None => size,
        };
        Self {
            size,
            target,
            per_row: None,
            smallest: size,
            largest: size,
        }
    }

    /// Rows the next batch reads.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the size adapts to a batch time.
    pub fn adapts(&self) -> bool {
        self.target.is_some()
    }

    /// Every batch from the next one on has `size` rows, or starts there when the size
    /// adapts (`runs set batch-size=…`).
    pub fn resize(&mut self, size: u64) {
        self.size = match self.target {
            Some(_) => size.clamp(MIN_BATCH, MAX_BATCH),
            None => size,
        };
        self.smallest = self.smallest.min(self.size);
        self.largest = self.largest.max(self.size);
    }

    /// Adapts toward batches of about `target` from now on, or stops adapting (`runs
    /// set batch-time=…`).
    pub fn retarget(&mut self, target: Option<Duration>) {
        self.target = target;
        self.per_row = None;
        self.resize(self.size);
    }

    /// The smallest and the largest size used so far.
    pub fn used(&self) -> (u64, u64) {
        (self.smallest, self.largest)
    }

    /// A batch of `rows` rows committed after `took`.
    pub fn committed(&mut self, rows: u64, took: Duration) {
        let Some(target) = self.target else { return };
        if rows == 0 {
            return;
        }
        let latest = took.as_secs_f64() / rows as f64;
        let smoothed = match self.per_row {
            Some(previous) => previous + SMOOTHING * (latest - previous),
            None => latest,
        };
        self.per_row = Some(smoothed);
        let target = target.as_secs_f64();
        let next = if took.as_secs_f64() > target {
            // Slow: at once to what the latest batch says fits.
            (target / latest).min(self.size as f64)
        } else if took.as_secs_f64() < GROW_BELOW * target {
            (target * GROW_BELOW / smoothed).clamp(self.size as f64, self.size as f64 * MAX_GROWTH)
        } else {
            self.size as f64
        };
        self.resize(next as u64);
    }

    /// A batch met a lock timeout: the next try takes half as many rows.
    pub fn lock_timeout(&mut self) {
        if self.target.is_some() {
            self.resize(self.size / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fixed_without_a_target() {
        let mut sizer = BatchSizer::new(500, None);
        sizer.committed(500, MS * 5000);
        sizer.lock_timeout();
        assert_eq!(sizer.size(), 500);
        assert_eq!(sizer.used(), (500, 500));
    }

    #[test]
    fn grows_gently_toward_the_target() {
        let mut sizer = BatchSizer::new(100, Some(MS * 500));
        // 1 ms per 100 rows: far under the target, so each batch grows by at most 1.2.
        sizer.committed(100, MS);
        assert_eq!(sizer.size(), 120);
        for _ in 0..100 {
            let size = sizer.size();
            sizer.committed(size, MS * size as u32 / 100);
        }
        // 45,000 rows take 450 ms: 0.9 of the target, where growth stops.
        assert_eq!(sizer.size(), 45_000);
    }

    #[test]
    fn shrinks_at_once_after_a_slow_batch_and_a_lock_timeout() {
        let mut sizer = BatchSizer::new(10_000, Some(MS * 100));
        sizer.committed(10_000, MS * 1000);
        assert_eq!(sizer.size(), 1000);
        sizer.lock_timeout();
        assert_eq!(sizer.size(), 500);
        for _ in 0..20 {
            sizer.lock_timeout();
        }
        assert_eq!(sizer.size(), MIN_BATCH);
        assert_eq!(sizer.used(), (MIN_BATCH, 10_000));
    }

    #[test]
    fn stays_in_the_band() {
        let mut sizer = BatchSizer::new(1000, Some(MS * 100));
        sizer.committed(1000, MS * 95);
        assert_eq!(sizer.size(), 1000);
    }
}
