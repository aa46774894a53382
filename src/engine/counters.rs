//! What a walk did: the counters every job reports (each the fields that mean
//! something for it), how many of a unit's ranges are done, and the report of one
//! walked table or phase.

use serde::{Deserialize, Serialize};

/// What one unit of work did.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    pub processed: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub errors: u64,
    pub anomalies: u64,
    pub rejected: u64,
    pub normalized: u64,
    pub batches: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.processed += other.processed;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.errors += other.errors;
        self.anomalies += other.anomalies;
        self.rejected += other.rejected;
        self.normalized += other.normalized;
        self.batches += other.batches;
    }

    /// More than 5% of processed records errored (SPEC §5: exit 1).
    pub fn too_many_errors(&self) -> bool {
        self.processed > 0 && self.errors * 20 > self.processed
    }
}

/// How many of a unit's ranges are done, held by a worker, and left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RangeTally {
    pub done: u64,
    pub in_progress: u64,
    pub left: u64,
}

impl RangeTally {
    pub fn total(&self) -> u64 {
        self.done + self.in_progress + self.left
    }

    pub fn add(&mut self, other: &RangeTally) {
        self.done += other.done;
        self.in_progress += other.in_progress;
        self.left += other.left;
    }

    /// Counts a range as done, held by a worker, or left.
    pub fn count(&mut self, done: bool, held: bool) {
        match (done, held) {
            (true, _) => self.done += 1,
            (false, true) => self.in_progress += 1,
            (false, false) => self.left += 1,
        }
    }
}

/// The report of one walked table (or phase).
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub unit: String,
    #[serde(flatten)]
    pub counters: Counters,
    /// Of `processed`, the records this process walked (a resumed or joined run's
    /// earlier rows are the run's, not this process's): what its rate counts.
    pub processed_here: u64,
    /// Mean batch time of the first and the last tenth of the batches, in ms: a flat
    /// cost per batch shows as two close numbers.
    pub first_tenth_batch_ms: Option<f64>,
    pub last_tenth_batch_ms: Option<f64>,
    /// The smallest and largest batch sizes used, when they adapted to `--batch-time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_sizes: Option<(u64, u64)>,
    /// How many of its ranges are done, in progress and left (none in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranges: Option<RangeTally>,
}

impl UnitReport {
    /// The report of `unit` from its counters and the times of its batches (ms).
    pub fn new(unit: &str, counters: Counters, timings: &[f64]) -> Self {
        let tenth = timings.len().div_ceil(10);
        let mean = |slice: &[f64]| {
            (!slice.is_empty()).then(|| slice.iter().sum::<f64>() / slice.len() as f64)
        };
        Self {
            unit: unit.to_string(),
            processed_here: counters.processed,
            counters,
            first_tenth_batch_ms: mean(&timings[..tenth]),
            last_tenth_batch_ms: mean(&timings[timings.len() - tenth..]),
            batch_sizes: None,
            ranges: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_percent_of_errors_is_the_limit() {
        let counters = |processed, errors| Counters {
            processed,
            errors,
            ..Counters::default()
        };
        assert!(!counters(100, 5).too_many_errors());
        assert!(counters(100, 6).too_many_errors());
        assert!(!counters(0, 0).too_many_errors());
    }

    #[test]
    fn tenths_of_the_batch_times() {
        let timings: Vec<f64> = (1..=20).map(f64::from).collect();
        let report = UnitReport::new("t", Counters::default(), &timings);
        assert_eq!(report.first_tenth_batch_ms, Some(1.5));
        assert_eq!(report.last_tenth_batch_ms, Some(19.5));
        let empty = UnitReport::new("t", Counters::default(), &[]);
        assert_eq!(empty.first_tenth_batch_ms, None);
    }
}
