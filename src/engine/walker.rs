//! The walk of one range of a table (the whole table when the walk has no store):
//! batch after batch from its checkpoint to its end, the next batch read ahead, ranges
//! that stayed locked deferred to a later pass, pacing and cancellation between
//! batches, and the final checkpoint.

use std::time::Instant;

use sea_orm::DbErr;

use super::attempt::{BatchAttempt, Step};
use super::counters::Counters;
use super::history::Sample;
use super::job::{Batch, BatchJob};
use super::meter::WalkMeter;
use super::pace::Gate;
use super::progress::WalkDisplay;
use super::state::{Checkpoint, CheckpointStore, Cursor, Deferred, Position, Saved};
use super::{Cancel, EngineSettings};
use crate::anomalies::{AnomalyKind, AnomalyLog};
use crate::backend::{Db, Failure, TableKey, db_message};
use crate::error::{BatchError, Interrupted};
use crate::settings::Setting;

/// What one walk did: its range's counters (those of earlier walks of it included),
/// the rows this walk went through, its batch times (ms) and sizes, and whether it was
/// stopped (Ctrl-C, a signal, `runs cancel`) after a batch rather than finished.
#[derive(Debug, Default)]
pub struct WalkedRange {
    pub counters: Counters,
    pub processed_here: u64,
    pub stopped: bool,
    pub timings: Vec<f64>,
    /// The smallest and largest batch sizes used, when they adapted to `--batch-time`.
    pub batch_sizes: Option<(u64, u64)>,
}

/// Walks one range for one run. Owns the checkpoint writes; jobs never see them.
pub struct KeysetWalker<'a> {
    db: &'a Db,
    settings: EngineSettings,
    store: Option<&'a mut dyn CheckpointStore>,
    cancel: Cancel,
}

impl<'a> KeysetWalker<'a> {
    pub fn new(
        db: &'a Db,
        settings: EngineSettings,
        store: Option<&'a mut dyn CheckpointStore>,
        cancel: Cancel,
    ) -> Self {
        Self {
            db,
            settings,
            store,
            cancel,
        }
    }

    fn run_id(&self) -> Option<i64> {
        self.store.as_ref().map(|store| store.run_id())
    }

    fn interrupted(&self) -> BatchError {
        Interrupted::of_run(self.run_id()).into()
    }

    fn attempt<'b, J: BatchJob>(
        &'b mut self,
        job: &'b J,
        key: TableKey,
        state: &'b Position,
        cursor: Cursor,
        meter: &'b mut WalkMeter,
    ) -> BatchAttempt<'b, J> {
        let progress = meter.progress();
        BatchAttempt {
            db: self.db,
            settings: &self.settings,
            job,
            key,
            state,
            cursor,
            counters: &mut meter.counters,
            store: self
                .store
                .as_deref_mut()
                .map(|store| store as &mut dyn CheckpointStore),
            sizer: &mut meter.sizer,
            progress,
        }
    }

    /// Waits for the next batch's turn (see `pace`); `Err` when the walk must stop.
    async fn wait_turn(
        &mut self,
        meter: &mut WalkMeter,
        key: TableKey,
        unit: &str,
        display: &WalkDisplay,
    ) -> Result<bool, BatchError> {
        let store = self
            .store
            .as_deref_mut()
            .map(|store| store as &mut dyn CheckpointStore);
        let gate = meter
            .pacer
            .wait_turn(self.db, store, &self.cancel, key.table, unit, display)
            .await
            .map_err(|source| BatchError::Failed {
                table: key.table,
                source,
            })?;
        for setting in meter.pacer.take_changed() {
            match setting {
                Setting::BatchSize(size) => meter.sizer.resize(size),
                Setting::BatchTime(target) => meter.sizer.retarget(target),
                Setting::Sleep(sleep) => self.settings.sleep = sleep,
                // The pacer takes the others itself.
                _ => {}
            }
        }
        match gate {
            Gate::Go { waited } => Ok(waited),
            Gate::Stop => {
                display.abandon();
                Err(self.interrupted())
            }
        }
    }

    /// Walks the table of `key` from its checkpoint to its range's end, batch by batch,
    /// under the name `unit`. A walk stopped between batches (Ctrl-C, a signal, `runs
    /// cancel`) returns what it did, marked stopped.
    pub async fn run<J: BatchJob>(
        &mut self,
        job: &J,
        key: TableKey,
        unit: &str,
    ) -> Result<WalkedRange, BatchError> {
        let checkpoint = self
            .store
            .as_ref()
            .map(|store| store.checkpoint())
            .unwrap_or_default();
        let display = WalkDisplay::new(
            self.db,
            self.settings.progress,
            &self.settings.board,
            key,
            unit,
            checkpoint.after.as_ref(),
        )
        .await;
        let estimate = self.db.backend().row_estimate(self.db, key.table).await;
        display.estimate(estimate);
        let mut meter = WalkMeter::new(&self.settings, checkpoint.counters, estimate);
        let position = Position {
            after: checkpoint.after,
            upto: checkpoint.upto,
            shard: checkpoint.shard,
            deferred: checkpoint.deferred,
        };
        let walked = self
            .walk(job, key, unit, position, &mut meter, &display)
            .await;
        // However the walk ended, its last interval belongs to the run's history.
        let rest = meter.history.rest();
        self.keep(unit, rest).await;
        let stopped = match walked {
            Ok(()) => false,
            Err(BatchError::Interrupted(_)) => true,
            Err(err) => return Err(err),
        };
        Ok(WalkedRange {
            counters: meter.counters,
            processed_here: meter.processed_here(),
            stopped,
            timings: meter.timings,
            batch_sizes: meter.sizer.adapts().then(|| meter.sizer.used()),
        })
    }

    /// The batches of one walk, from `state` to the range's end, then its checkpoint
    /// saved done.
    async fn walk<J: BatchJob>(
        &mut self,
        job: &J,
        key: TableKey,
        unit: &str,
        mut state: Position,
        meter: &mut WalkMeter,
        display: &WalkDisplay,
    ) -> Result<(), BatchError> {
        let lease_lost = || BatchError::LeaseLost { table: key.table };
        let mut ahead: Option<Batch<J::Row>> = None;
        loop {
            if self.wait_turn(meter, key, unit, display).await? {
                ahead = None;
            }
            let started = Instant::now();
            // A read done ahead is this batch's only if the walk is where it expected,
            // and the range still reaches as far (a split shortens it).
            let fetched = ahead.take().filter(|read| {
                read.after == state.after
                    && state.upto.as_ref().is_none_or(|upto| read.upto <= *upto)
            });
            let step = self
                .attempt(job, key, &state, Cursor::Main, meter)
                .run(fetched)
                .await?;
            match step {
                Step::Exhausted => break,
                Step::LeaseLost => return Err(lease_lost()),
                Step::Deferred(range) => {
                    // Saved with the next batch's checkpoint; until then a crash just
                    // walks this range again.
                    state.after = Some(range.upto.clone());
                    state.deferred.push(range);
                }
                Step::Advanced { next, rows, read } => {
                    state = next;
                    let took = started.elapsed();
                    tracing::debug!(
                        "{unit}: batch of {rows} rows committed, up to {}",
                        state
                            .after
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    );
                    meter.sizer.committed(rows, took);
                    self.settings
                        .metrics
                        .batch(unit, rows, took, meter.sizer.size());
                    meter.timings.push(took.as_secs_f64() * 1000.0);
                    let sample = meter.history.committed(rows, took, meter.sizer.size());
                    self.keep(unit, sample).await;
                    display.committed(
                        rows,
                        meter.counters.processed,
                        meter.processed_here(),
                        meter.sizer.size(),
                    );
                    // The read ahead found nothing after this batch: it was the last,
                    // and nothing is left to leave room before.
                    let last = read.is_none();
                    ahead = read;
                    if last {
                        continue;
                    }
                }
            }
            if !self.settings.sleep.is_zero() {
                tokio::time::sleep(self.settings.sleep).await;
            }
        }
        // The later pass: ranges that met locks, now that the application had time.
        while let Some(range) = state.deferred.first().cloned() {
            self.wait_turn(meter, key, unit, display).await?;
            let step = self
                .attempt(job, key, &state, Cursor::Deferred, meter)
                .run(None)
                .await?;
            match step {
                Step::Advanced { next, .. } => state = next,
                Step::Exhausted => {
                    state.deferred.remove(0);
                }
                Step::LeaseLost => return Err(lease_lost()),
                Step::Deferred(_) => {
                    self.report_stuck(key, &range).await?;
                    meter.counters.errors += 1;
                    state.deferred.remove(0);
                }
            }
        }
        display.finish();
        let checkpoint = Checkpoint {
            after: state.after,
            upto: state.upto,
            shard: state.shard,
            deferred: Vec::new(),
            done: true,
            counters: meter.counters,
            progress: meter.progress(),
        };
        self.save_done(key, checkpoint).await
    }

    /// Keeps `sample` of the walk's history, if there is one. Best effort: a chart with
    /// a gap is no reason to stop a run.
    async fn keep(&mut self, unit: &str, sample: Option<Sample>) {
        let (Some(store), Some(sample)) = (self.store.as_deref_mut(), sample) else {
            return;
        };
        if let Err(err) = store.sample(unit, sample).await {
            tracing::debug!(
                "{unit}: could not keep the run's history ({})",
                db_message(&err)
            );
        }
    }

    /// Records the range as done, retrying while the database is busy (InnoDB may
    /// find the checkpoint deadlocked with another worker's claim).
    async fn save_done(&mut self, key: TableKey, checkpoint: Checkpoint) -> Result<(), BatchError> {
        let (db, retry, lock_timeout) = (self.db, self.settings.retry, self.settings.lock_timeout);
        let Some(store) = self.store.as_deref_mut() else {
            return Ok(());
        };
        let mut failures = 0;
        loop {
            let saved = async {
                let txn = db.begin_batch(lock_timeout).await?;
                let saved = store.save(&txn, checkpoint.clone()).await?;
                match saved {
                    Saved::LeaseLost => txn.rollback().await?,
                    Saved::Kept | Saved::Split(_) => txn.commit().await?,
                }
                Ok::<_, DbErr>(saved)
            }
            .await;
            match saved {
                Ok(Saved::LeaseLost) => return Err(BatchError::LeaseLost { table: key.table }),
                Ok(_) => return Ok(()),
                Err(err)
                    if db.classify(&err) == Failure::Transient && retry.may_retry(failures + 1) =>
                {
                    failures += 1;
                    tokio::time::sleep(retry.wait(failures)).await;
                }
                Err(source) => {
                    return Err(BatchError::Failed {
                        table: key.table,
                        source,
                    });
                }
            }
        }
    }

    /// A range still locked after the later pass: logged, so the run ends "not done".
    async fn report_stuck(&self, key: TableKey, range: &Deferred) -> Result<(), BatchError> {
        let row = format!(
            "{}..={}",
            range
                .after
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            range.upto
        );
        tracing::error!(
            "{}: rows {row} stayed locked; run again once they are free",
            key.table
        );
        if self.settings.dry_run {
            return Ok(());
        }
        let mut log = AnomalyLog::default();
        log.note(
            key.table,
            row,
            AnomalyKind::LockTimeout,
            "these rows stayed locked by another session through every retry; running again finishes them",
        );
        log.flush(self.db, self.db.schema(), self.run_id())
            .await
            .map_err(|source| BatchError::Failed {
                table: key.table,
                source,
            })
    }
}
