//! The walk of one table: batch after batch from its checkpoint to the end, the next
//! batch read ahead, ranges that stayed locked deferred to a later pass, pacing and
//! cancellation between batches, and the final checkpoint.

use std::time::Instant;

use sea_orm::{DatabaseConnection, TransactionTrait};

use super::attempt::{BatchAttempt, Step};
use super::counters::{Counters, UnitReport};
use super::job::{Batch, BatchJob};
use super::progress;
use super::state::{Checkpoint, CheckpointStore, Cursor, Deferred, WalkState};
use super::walk::TableWalk;
use super::{Cancel, EngineSettings};
use crate::anomalies::{AnomalyKind, AnomalyLog};
use crate::error::{BatchError, Interrupted};

/// Walks tables for one run. Owns the checkpoint writes; jobs never see them.
pub struct KeysetWalker<'a> {
    db: &'a DatabaseConnection,
    settings: EngineSettings,
    store: Option<&'a mut dyn CheckpointStore>,
    cancel: Cancel,
}

impl<'a> KeysetWalker<'a> {
    pub fn new(
        db: &'a DatabaseConnection,
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
        walk: TableWalk,
        unit: &'b str,
        state: &'b WalkState,
        cursor: Cursor,
        counters: &'b mut Counters,
    ) -> BatchAttempt<'b, J> {
        BatchAttempt {
            db: self.db,
            settings: &self.settings,
            job,
            walk,
            unit,
            state,
            cursor,
            counters,
            store: self
                .store
                .as_deref_mut()
                .map(|store| store as &mut dyn CheckpointStore),
        }
    }

    /// Walks `walk` from its checkpoint to the end, batch by batch, under the name `unit`.
    pub async fn run<J: BatchJob>(
        &mut self,
        job: &J,
        walk: TableWalk,
        unit: &str,
    ) -> Result<UnitReport, BatchError> {
        let checkpoint = self
            .store
            .as_ref()
            .map(|store| store.checkpoint_of(unit))
            .unwrap_or_default();
        let mut counters = checkpoint.counters;
        let mut timings = Vec::new();
        if checkpoint.done {
            return Ok(UnitReport::new(unit, counters, &timings));
        }
        let mut state = WalkState {
            after: checkpoint.after,
            deferred: checkpoint.deferred,
        };
        let bar = progress::bar(
            self.db,
            self.settings.progress,
            walk,
            unit,
            state.after.as_ref(),
        )
        .await;
        let mut ahead: Option<Batch<J::Row>> = None;
        loop {
            let started = Instant::now();
            // A read done ahead is this batch's only if the walk is where it expected.
            let fetched = ahead.take().filter(|read| read.after == state.after);
            let step = self
                .attempt(job, walk, unit, &state, Cursor::Main, &mut counters)
                .run(fetched)
                .await?;
            match step {
                Step::Exhausted => break,
                Step::Deferred(range) => {
                    // Saved with the next batch's checkpoint; until then a crash just
                    // walks this range again.
                    state.after = Some(range.upto.clone());
                    state.deferred.push(range);
                }
                Step::Advanced { next, rows, read } => {
                    state = next;
                    ahead = read;
                    timings.push(started.elapsed().as_secs_f64() * 1000.0);
                    bar.inc(rows);
                }
            }
            if self.cancel.is_cancelled() {
                bar.abandon();
                return Err(self.interrupted());
            }
            if !self.settings.sleep.is_zero() {
                tokio::time::sleep(self.settings.sleep).await;
            }
        }
        // The later pass: ranges that met locks, now that the application had time.
        while let Some(range) = state.deferred.first().cloned() {
            let step = self
                .attempt(job, walk, unit, &state, Cursor::Deferred, &mut counters)
                .run(None)
                .await?;
            match step {
                Step::Advanced { next, .. } => state = next,
                Step::Exhausted => {
                    state.deferred.remove(0);
                }
                Step::Deferred(_) => {
                    self.report_stuck(walk, &range).await?;
                    counters.errors += 1;
                    state.deferred.remove(0);
                }
            }
            if self.cancel.is_cancelled() {
                return Err(self.interrupted());
            }
        }
        bar.finish_and_clear();
        if let Some(store) = self.store.as_deref_mut() {
            let failed = |source| BatchError::Failed {
                table: walk.table,
                source,
            };
            let txn = self.db.begin().await.map_err(failed)?;
            let checkpoint = Checkpoint {
                after: state.after,
                deferred: Vec::new(),
                done: true,
                counters,
            };
            store.save(&txn, unit, checkpoint).await.map_err(failed)?;
            txn.commit().await.map_err(failed)?;
        }
        Ok(UnitReport::new(unit, counters, &timings))
    }

    /// A range still locked after the later pass: logged, so the run ends "not done".
    async fn report_stuck(&self, walk: TableWalk, range: &Deferred) -> Result<(), BatchError> {
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
            walk.table
        );
        if self.settings.dry_run {
            return Ok(());
        }
        let mut log = AnomalyLog::default();
        log.note(
            walk.table,
            row,
            AnomalyKind::LockTimeout,
            "these rows stayed locked by another session through every retry; running again finishes them",
        );
        log.flush(self.db, self.run_id())
            .await
            .map_err(|source| BatchError::Failed {
                table: walk.table,
                source,
            })
    }
}
