//! A walk's history for the console's chart: the batches of an interval summed into
//! one [`Sample`] that the walk's store keeps (`backfill_samples`). The interval is a
//! fiftieth of the walk's age, from 2 s to a minute, so a short run still draws a line
//! and a run of days keeps about one sample a minute per worker.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SHORTEST: Duration = Duration::from_secs(2);
const LONGEST: Duration = Duration::from_secs(60);
/// The interval is the walk's age divided by this.
const PER_AGE: u32 = 50;

/// The batches of one interval of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The interval's end, in milliseconds since 1970.
    pub at_ms: i64,
    pub span_ms: i64,
    pub rows: u64,
    pub batches: u64,
    /// The time its batches took, summed.
    pub busy_ms: i64,
    /// The batch size at its end.
    pub batch_size: u64,
}

/// The interval a walk is summing.
#[derive(Debug)]
pub(super) struct History {
    started: Instant,
    since: Instant,
    rows: u64,
    batches: u64,
    busy: Duration,
    batch_size: u64,
}

impl History {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            since: now,
            rows: 0,
            batches: 0,
            busy: Duration::ZERO,
            batch_size: 0,
        }
    }

    /// A batch of `rows` committed after `took`, the next one `batch_size` rows: the
    /// interval's sample once it is over.
    pub fn committed(&mut self, rows: u64, took: Duration, batch_size: u64) -> Option<Sample> {
        self.rows += rows;
        self.batches += 1;
        self.busy += took;
        self.batch_size = batch_size;
        let interval = (self.started.elapsed() / PER_AGE).clamp(SHORTEST, LONGEST);
        (self.since.elapsed() >= interval).then(|| self.take())
    }

    /// What is left of the interval when the walk ends, if it committed anything.
    pub fn rest(&mut self) -> Option<Sample> {
        (self.batches > 0).then(|| self.take())
    }

    fn take(&mut self) -> Sample {
        let millis = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let sample = Sample {
            at_ms: millis(now),
            span_ms: millis(self.since.elapsed()),
            rows: self.rows,
            batches: self.batches,
            busy_ms: millis(self.busy),
            batch_size: self.batch_size,
        };
        *self = Self {
            started: self.started,
            ..Self::new()
        };
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_sums_its_batches_and_starts_afresh() {
        let mut history = History::new();
        assert_eq!(history.committed(100, Duration::from_millis(30), 100), None);
        assert_eq!(history.committed(100, Duration::from_millis(50), 120), None);
        let sample = history.rest().expect("what was committed");
        assert_eq!(
            (
                sample.rows,
                sample.batches,
                sample.busy_ms,
                sample.batch_size
            ),
            (200, 2, 80, 120)
        );
        assert_eq!(history.rest(), None, "nothing since");
    }
}
