//! One batch of a walk, tried until it commits, is deferred or stops the run. Each try
//! reads the batch (unless it was read ahead), then, in one transaction, plans it,
//! writes it, notes its anomalies and saves the walk's new checkpoint, while the next
//! batch is read ahead on a second connection: on two cores the read and the write
//! overlap.

use sea_orm::DbErr;

use super::EngineSettings;
use super::counters::Counters;
use super::fetch::fetch;
use super::isolate::isolate;
use super::job::{Batch, BatchJob, BatchPlan};
use super::sizing::BatchSizer;
use super::state::{
    Checkpoint, CheckpointStore, Cursor, Deferred, Position, Progress, Saved, Span,
};
use crate::anomalies::AnomalyKind;
use crate::backend::{Db, Failure, Key, TableKey, db_message};
use crate::error::BatchError;

/// How a batch's writes are made: directly, or (after a rejection) isolating.
#[derive(Debug, Clone, Copy)]
enum Isolation {
    Direct,
    Isolating,
}

/// How a batch ended.
pub(super) enum Step<R> {
    /// The batch committed; `read` is the next batch's read, done ahead.
    Advanced {
        next: Position,
        rows: u64,
        read: Option<Batch<R>>,
    },
    /// Its range stayed locked through every retry: a later pass owes it.
    Deferred(Deferred),
    /// There was nothing left to read.
    Exhausted,
    /// Another worker holds the range now; the batch rolled back.
    LeaseLost,
}

/// How writing a batch ended.
enum Wrote {
    /// Committed (or, in a dry run, rolled back with exact counts): the walk's next
    /// state and the batch's number of rows.
    Committed(Position, u64),
    /// A row was rejected on the direct path; rolled back, to be written isolating.
    Rejected,
    /// The lease was lost; rolled back.
    LeaseLost,
}

/// One batch at `cursor` of a walk standing at `state`.
pub(super) struct BatchAttempt<'a, J: BatchJob> {
    pub db: &'a Db,
    pub settings: &'a EngineSettings,
    pub job: &'a J,
    pub key: TableKey,
    pub state: &'a Position,
    pub cursor: Cursor,
    /// The walk's counters so far; the committed batch's are added.
    pub counters: &'a mut Counters,
    /// Where the checkpoint goes; none in a dry run.
    pub store: Option<&'a mut dyn CheckpointStore>,
    /// How many rows a read takes; a lock timeout shrinks it.
    pub sizer: &'a mut BatchSizer,
    /// How the walk is going, saved with the checkpoint.
    pub progress: Progress,
}

impl<J: BatchJob> BatchAttempt<'_, J> {
    /// Runs the batch, retrying on transient errors. `fetched` is its read, if done
    /// ahead; a retry reads again. A batch the database rejects a row of is rolled back
    /// and written again, isolating: that is not a retry.
    pub async fn run(
        mut self,
        mut fetched: Option<Batch<J::Row>>,
    ) -> Result<Step<J::Row>, BatchError> {
        let table = self.key.table;
        let after = self.state.span(self.cursor).after.cloned();
        let from = after
            .as_ref()
            .map_or_else(|| "the start".into(), ToString::to_string);
        let mut failures = 0;
        let mut last_upto = None;
        let mut isolation = Isolation::Direct;
        loop {
            let err = match self
                .try_once(isolation, &mut last_upto, fetched.take())
                .await
            {
                Ok(Some(step)) => return Ok(step),
                Ok(None) => {
                    isolation = Isolation::Isolating;
                    continue;
                }
                Err(err) => err,
            };
            match self.db.classify(&err) {
                Failure::Transient if self.settings.retry.may_retry(failures + 1) => {
                    failures += 1;
                    self.sizer.lock_timeout();
                    let wait = self.settings.retry.wait(failures);
                    tracing::info!(
                        "{table}: batch after {from} waited too long for locks ({}); retrying in {wait:?}",
                        db_message(&err),
                    );
                    tokio::time::sleep(wait).await;
                }
                Failure::Transient => {
                    let Some(upto) = last_upto else {
                        return Err(BatchError::Busy { table, source: err });
                    };
                    tracing::warn!(
                        "{table}: rows after {from} up to {upto} are locked by another session; deferring them to a later pass",
                    );
                    return Ok(Step::Deferred(Deferred { after, upto }));
                }
                Failure::ConnectionLost => {
                    return Err(BatchError::ConnectionLost { table, source: err });
                }
                Failure::DiskFull => return Err(BatchError::DiskFull { table, source: err }),
                Failure::ReadOnly => return Err(BatchError::ReadOnly { table, source: err }),
                Failure::Rejected => return Err(BatchError::Failed { table, source: err }),
            }
        }
    }

    /// One try: reads the batch (unless `fetched` holds it), then writes it while the
    /// next batch is read ahead. `None`: a row was rejected on the direct path and the
    /// batch was rolled back, to be written again isolating.
    async fn try_once(
        &mut self,
        isolation: Isolation,
        last_upto: &mut Option<Key>,
        fetched: Option<Batch<J::Row>>,
    ) -> Result<Option<Step<J::Row>>, DbErr> {
        let (db, settings, job, key) = (self.db, self.settings, self.job, self.key);
        let limit = self.sizer.size();
        let span = self.state.span(self.cursor);
        let batch = match fetched {
            Some(batch) => batch,
            None => match fetch(db, settings, job, key, limit, span).await? {
                Some(batch) => batch,
                None => return Ok(Some(Step::Exhausted)),
            },
        };
        *last_upto = Some(batch.upto.clone());
        let next_after = batch.upto.clone();
        // A deferred range is read when its turn comes; only the main walk reads ahead.
        // A failed read ahead is dropped: the next batch then reads for itself.
        let main_walk = matches!(self.cursor, Cursor::Main);
        let range_end = self.state.upto.clone();
        let shard = self.state.shard;
        let read_ahead = async {
            if !main_walk {
                return None;
            }
            let span = Span {
                after: Some(&next_after),
                upto: range_end.as_ref(),
                shard,
            };
            fetch(db, settings, job, key, limit, span)
                .await
                .ok()
                .flatten()
        };
        let (written, read) = tokio::join!(self.write(isolation, batch), read_ahead);
        Ok(match written? {
            Wrote::Committed(next, rows) => Some(Step::Advanced { next, rows, read }),
            Wrote::Rejected => None,
            Wrote::LeaseLost => Some(Step::LeaseLost),
        })
    }

    /// Plans and writes a batch already read, in one transaction with its anomalies
    /// and checkpoint.
    async fn write(
        &mut self,
        isolation: Isolation,
        mut batch: Batch<J::Row>,
    ) -> Result<Wrote, DbErr> {
        let txn = self.db.begin_batch(self.settings.lock_timeout).await?;
        let row_count = batch.count;
        let batch_upto = batch.upto.clone();
        let mut plan = BatchPlan::default();
        plan.counters.processed = row_count;
        batch.number = self.counters.batches + 1;
        let writes = self.job.plan(&txn, batch, &mut plan).await?;
        let written = match isolation {
            Isolation::Direct => match self.job.write(&txn, &writes).await {
                Ok(written) => written,
                Err(err) if self.db.classify(&err) == Failure::Rejected => {
                    tracing::debug!(
                        "a row of this batch was rejected ({}); writing it again, isolating",
                        db_message(&err)
                    );
                    txn.rollback().await?;
                    return Ok(Wrote::Rejected);
                }
                Err(err) => return Err(err),
            },
            Isolation::Isolating => isolate(self.db, self.job, &txn, writes).await?,
        };
        for anomaly in &written.anomalies {
            plan.anomalies.note(
                anomaly.table,
                &anomaly.row_id,
                anomaly.kind,
                anomaly.description.clone(),
            );
        }

        let mut done = plan.counters;
        done.batches = 1;
        done.inserted += written.inserted;
        done.updated += written.updated;
        done.normalized += written.normalized;
        done.anomalies += plan.anomalies.len() as u64;
        done.errors += plan.anomalies.error_count() as u64;
        done.rejected += plan.anomalies.count_of(AnomalyKind::RowRejected) as u64;

        let mut next = self.state.advanced(self.cursor, batch_upto);
        if self.settings.dry_run {
            // Exact counts, nothing kept: the batch ran for real and is rolled back.
            txn.rollback().await?;
        } else {
            let run_id = self.store.as_ref().map(|store| store.run_id());
            for kind in AnomalyKind::ALL {
                let count = plan.anomalies.count_of(kind) as u64;
                if count > 0 {
                    self.settings.metrics.anomalies(kind, count);
                }
            }
            plan.anomalies.flush(&txn, self.db.schema(), run_id).await?;
            let mut total = *self.counters;
            total.add(&done);
            if let Some(store) = self.store.as_deref_mut() {
                let checkpoint = Checkpoint {
                    after: next.after.clone(),
                    upto: next.upto.clone(),
                    shard: next.shard,
                    deferred: next.deferred.clone(),
                    done: false,
                    counters: total,
                    progress: self.progress.clone(),
                };
                match store.save(&txn, checkpoint).await? {
                    Saved::Kept => {}
                    Saved::Split(upto) => next.upto = Some(upto),
                    Saved::LeaseLost => {
                        txn.rollback().await?;
                        return Ok(Wrote::LeaseLost);
                    }
                }
            }
            txn.commit().await?;
        }
        self.counters.add(&done);
        Ok(Wrote::Committed(next, row_count))
    }
}
