//! What one walk of a range measures as it goes: its counters, its batch size, its
//! pacing, its history, and the progress `runs` is told.

use std::time::{Duration, Instant};

use super::EngineSettings;
use super::counters::Counters;
use super::history::History;
use super::pace::Pacer;
use super::sizing::BatchSizer;
use super::state::Progress;

/// What one walk measures as it goes: what it did, its batch size, its pacing between
/// batches, and what `runs` is told of its progress.
pub(super) struct WalkMeter {
    pub(super) counters: Counters,
    pub(super) sizer: BatchSizer,
    pub(super) pacer: Pacer,
    /// The database's estimate of the table's rows.
    pub(super) estimate: Option<u64>,
    /// When this process took the walk up, and how far it was then.
    pub(super) started: Instant,
    pub(super) processed_before: u64,
    /// The time of each batch this walk committed, in ms.
    pub(super) timings: Vec<f64>,
    pub(super) history: History,
}

impl WalkMeter {
    /// The meter of a walk that starts from `counters` (its range's, from earlier
    /// walks) on a table the database estimates at `estimate` rows.
    pub(super) fn new(
        settings: &EngineSettings,
        counters: Counters,
        estimate: Option<u64>,
    ) -> Self {
        Self {
            sizer: BatchSizer::new(settings.batch_size, settings.batch_time),
            pacer: Pacer::new(
                settings.health,
                settings.window.clone(),
                settings.replicas.clone(),
                settings.metrics.clone(),
            ),
            estimate,
            started: Instant::now(),
            processed_before: counters.processed,
            counters,
            timings: Vec::new(),
            history: History::new(),
        }
    }

    /// The rows this process walked of the range.
    pub(super) fn processed_here(&self) -> u64 {
        self.counters
            .processed
            .saturating_sub(self.processed_before)
    }

    /// The progress to record now.
    pub(super) fn progress(&self) -> Progress {
        let processed = self.counters.processed;
        let elapsed = self.started.elapsed().max(Duration::from_millis(1));
        let rows = self.processed_here();
        Progress {
            estimate: self.estimate.map(|estimate| estimate.max(processed)),
            rate: (rows > 0).then(|| rows as f64 / elapsed.as_secs_f64()),
            batch_size: Some(self.sizer.size()),
            held: None,
        }
    }
}
