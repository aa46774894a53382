//! The batch engine both backfills run on. A run's tables are cut into key ranges that
//! its workers (in one process or many) claim under a lease; a worker walks its range
//! in primary-key order (never OFFSET) and, for each batch, in one short transaction,
//! lets the job plan its writes, writes them in bulk, isolates rows the database
//! rejects, logs anomalies and saves the range's checkpoint, which commits only while
//! the worker still holds the range; between batches it paces, draws progress and
//! honours cancellation. A job supplies only what is its own (`WorkPlan`, `BatchJob`);
//! what differs between databases comes from `crate::backend`, below it.
//!
//! | module | owns |
//! |---|---|
//! | `keyset` | the SQL of a batch's read: a primary-key range scan |
//! | `job` | what a backfill supplies per batch (`BatchJob`), a run's units, the values a batch passes through |
//! | `counters` | what a walk did, how many ranges are done, and a unit's report |
//! | `state` | where a walk stands: checkpoints, deferred ranges, the cursor |
//! | `walker` | the loop over one range of a table: read ahead, defer, checkpoint, finish |
//! | `meter` | what one walk measures: counters, batch size, pacing, history, progress |
//! | `pool` | a run's workers in one process (`WorkPlan`): claim a range, walk it, claim the next |
//! | `range_rows` | the rows of `backfill_ranges`: recording, release, where they stand |
//! | `claims` | a run's ranges as its workers claim them, split requests, totals |
//! | `lease` | one worker's range: the fence of each batch, its split, renewal, release |
//! | `cut` | a table's key space cut into ranges without reading the table |
//! | `attempt` | one try of one batch, in one transaction |
//! | `isolate` | bisection of a batch the database rejected a row of |
//! | `pace` | between batches: pause and cancel requests, settings changed, the window, health holds |
//! | `health` | judging the database's health against the limits |
//! | `history` | a walk's batches summed per interval, for the console's chart |
//! | `sizing` | the size of the next batch, fixed or adapted to `--batch-time` |
//! | `retry` | how often and how long a batch waits out a busy database |
//! | `fetch` | reading and decoding a batch |
//! | `progress` | progress shown while a walk runs: a bar on a terminal, lines in a log |
//! | `cancel` | Ctrl-C and cancellation, passed in |

mod attempt;
mod cancel;
mod claims;
mod counters;
mod cut;
mod fetch;
mod health;
mod history;
mod isolate;
mod job;
mod keyset;
mod lease;
mod meter;
mod pace;
mod pool;
mod progress;
mod range_rows;
mod retry;
mod sizing;
mod state;
mod walker;

#[cfg(test)]
mod tests;

pub use cancel::Cancel;
pub use claims::RangeQueue;
pub use counters::{Counters, RangeTally, UnitReport};
pub use health::{HealthLimits, Hold};
pub use history::Sample;
pub use job::{Batch, BatchJob, BatchPlan, Reads, Split, Unit, Written};
pub use pool::{WorkPlan, Worked, work};
pub use progress::{ProgressBoard, ProgressDisplay};
pub use range_rows::{RangeState, states as range_states};
pub use retry::RetryPolicy;
pub use state::{Checkpoint, CheckpointStore, Deferred, Progress, Saved};
pub use walker::{KeysetWalker, WalkedRange};

use std::time::Duration;

use crate::backend::Replica;
use crate::metrics::Metrics;
use crate::notify::Targets;
use crate::settings::{Setting, Window};

/// How the engine paces and guards batches, resolved once from the flags.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The first batch's size, and every batch's without `batch_time`.
    pub batch_size: u64,
    /// Adapt the batch size toward batches of about this time.
    pub batch_time: Option<Duration>,
    pub sleep: Duration,
    pub lock_timeout: Duration,
    pub dry_run: bool,
    /// How progress is shown while the run works.
    pub progress: ProgressDisplay,
    /// What this process's walks report for the progress lines.
    pub board: ProgressBoard,
    /// Workers of this process on the run (`--workers`); one where the backend takes
    /// one writer at a time.
    pub workers: u32,
    /// How long a worker holds a range without committing before another may take it.
    pub lease: Duration,
    pub retry: RetryPolicy,
    pub health: HealthLimits,
    /// Replicas watched on their own connections (`--replica-url`, MySQL/MariaDB).
    pub replicas: Vec<Replica>,
    /// Where the walk's figures go (served with `--metrics-addr`).
    pub metrics: Metrics,
    /// The times of day the run may work (`--window`); none: any time.
    pub window: Option<Window>,
    /// Where a new run's status changes are POSTed (`--notify`), and the console its
    /// notices link to.
    pub notify: Targets,
}

impl EngineSettings {
    /// Batches of `batch_size` rows, one worker, the spec's defaults for the rest
    /// (2 s lock timeout, 30 s lease, 10 s lag, 25 threads), nothing shown.
    pub fn with_batch_size(batch_size: u64) -> Self {
        Self {
            batch_size,
            batch_time: None,
            sleep: Duration::ZERO,
            lock_timeout: Duration::from_secs(2),
            dry_run: false,
            progress: ProgressDisplay::Hidden,
            board: ProgressBoard::default(),
            workers: 1,
            lease: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            health: HealthLimits::default(),
            replicas: Vec::new(),
            metrics: Metrics::default(),
            window: None,
            notify: Targets::default(),
        }
    }

    /// The settings a run can change while it works, as these are.
    pub fn changeable(&self) -> Vec<Setting> {
        vec![
            Setting::BatchSize(self.batch_size),
            Setting::BatchTime(self.batch_time),
            Setting::Sleep(self.sleep),
            Setting::MaxLag(self.health.max_lag),
            Setting::MaxLoad(self.health.max_load),
            Setting::Window(self.window.clone()),
        ]
    }
}
