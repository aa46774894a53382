//! A run's workers in this process: each claims a range of the run, walks it with the
//! job of its unit, and claims the next, until every range is done. While nothing can
//! be claimed (an earlier phase is still being walked, or every range left is held)
//! a worker waits, asks the busy workers to split what they hold, and looks again.
//! One worker's failure stops the others after their batch in flight.

use std::collections::BTreeMap;
use std::time::Duration;

use super::claims::{Claim, RangeQueue};
use super::counters::{Counters, RangeTally, UnitReport};
use super::job::Unit;
use super::progress::ProgressDisplay;
use super::range_rows::owner_name;
use super::state::CheckpointStore;
use super::walker::{KeysetWalker, WalkedRange};
use super::{Cancel, EngineSettings};
use crate::backend::{Db, Failure, db_message};
use crate::error::{BatchError, Interrupted};
use crate::ledger::{self, Request};

/// How long a worker with nothing to claim waits before it looks again.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// The units of a run, and the batch job that walks each: what a backfill gives the
/// engine's workers.
#[allow(async_fn_in_trait)]
pub trait WorkPlan {
    /// The run's units, in phase order.
    fn units(&self) -> &[Unit];

    /// Walks one range of `unit` (the whole unit when `walker` has no store).
    async fn walk(
        &self,
        walker: &mut KeysetWalker<'_>,
        unit: &Unit,
    ) -> Result<WalkedRange, BatchError>;
}

/// What a process's workers did: each unit's report, and, when they were stopped
/// between batches (Ctrl-C, a signal, `runs cancel`), why.
#[derive(Debug)]
pub struct Worked {
    pub reports: Vec<UnitReport>,
    pub stopped: Option<Interrupted>,
}

/// Runs `settings.workers` workers on the ranges of `queue`, or, without a queue (a dry run,
/// which records nothing), walks each unit whole in turn. Returns each unit's report:
/// with a queue its counters are those of every worker of the run, in any process.
/// Workers stopped between batches still report what they did.
pub async fn work<J: WorkPlan>(
    db: &Db,
    settings: &EngineSettings,
    queue: Option<&RangeQueue>,
    jobs: &J,
    cancel: &Cancel,
) -> Result<Worked, BatchError> {
    let workers = async {
        match queue {
            Some(queue) => {
                let pool = (1..=settings.workers.max(1))
                    .map(|number| worker(db, settings, queue, number, jobs, cancel));
                let mut walked = Vec::new();
                let mut failure = None;
                for (done, result) in futures_util::future::join_all(pool).await {
                    walked.extend(done);
                    // The first failure is the one to report; the others stopped
                    // because of it.
                    if let Err(err) = result
                        && matches!(failure, None | Some(BatchError::Interrupted(_)))
                    {
                        failure = Some(err);
                    }
                }
                (walked, failure)
            }
            None => {
                let mut walked = Vec::new();
                for unit in jobs.units() {
                    let mut walker = KeysetWalker::new(db, settings.clone(), None, cancel.clone());
                    match jobs.walk(&mut walker, unit).await {
                        Ok(done) => {
                            let stopped = done.stopped;
                            walked.push((unit.name, done));
                            if stopped {
                                return (walked, Some(Interrupted::of_run(None).into()));
                            }
                        }
                        Err(err) => return (walked, Some(err)),
                    }
                }
                (walked, None)
            }
        }
    };
    let (walked, failure) = match settings.progress {
        ProgressDisplay::Lines(every) => tokio::select! {
            done = workers => done,
            () = settings.board.tick(every) => unreachable!("the ticker never ends"),
        },
        ProgressDisplay::Hidden | ProgressDisplay::Bar => workers.await,
    };
    let stopped = match failure {
        None => None,
        Some(BatchError::Interrupted(stop)) => Some(stop),
        Some(err) => return Err(err),
    };
    let totals = match queue {
        Some(queue) => Some(queue.totals().await.map_err(|source| BatchError::Failed {
            table: "backfill_ranges",
            source,
        })?),
        None => None,
    };
    Ok(Worked {
        reports: reports(jobs, walked, totals),
        stopped,
    })
}

/// One worker: claims and walks ranges until none is left.
async fn worker<J: WorkPlan>(
    db: &Db,
    settings: &EngineSettings,
    queue: &RangeQueue,
    number: u32,
    jobs: &J,
    cancel: &Cancel,
) -> (Vec<(&'static str, WalkedRange)>, Result<(), BatchError>) {
    let mut walked = Vec::new();
    let result = claim_and_walk(db, settings, queue, number, jobs, cancel, &mut walked).await;
    (walked, result)
}

/// The loop of one worker, its walks kept in `walked` however it ends.
async fn claim_and_walk<J: WorkPlan>(
    db: &Db,
    settings: &EngineSettings,
    queue: &RangeQueue,
    number: u32,
    jobs: &J,
    cancel: &Cancel,
    walked: &mut Vec<(&'static str, WalkedRange)>,
) -> Result<(), BatchError> {
    let owner = owner_name(number);
    let failed = |source| BatchError::Failed {
        table: "backfill_ranges",
        source,
    };
    let mut waiting = false;
    loop {
        if cancel.is_cancelled() {
            return Err(Interrupted::of_run(Some(queue.run_id())).into());
        }
        let claim = match queue.claim(&owner, jobs.units()).await {
            Ok(claim) => claim,
            // A claim InnoDB found deadlocked with a checkpoint: look again.
            Err(err) if db.classify(&err) == Failure::Transient => {
                tracing::debug!("{owner}: claim retried ({})", db_message(&err));
                tokio::time::sleep(IDLE_WAIT).await;
                continue;
            }
            Err(err) => return Err(failed(err)),
        };
        match claim {
            Claim::Finished => return Ok(()),
            Claim::Range(mut lease) => {
                waiting = false;
                let unit = lease.unit;
                tracing::debug!("{owner}: took a range of {}", unit.name);
                let walk = {
                    let store: &mut dyn CheckpointStore = lease.as_mut();
                    let mut walker =
                        KeysetWalker::new(db, settings.clone(), Some(store), cancel.clone());
                    jobs.walk(&mut walker, &unit).await
                };
                match walk {
                    Ok(done) if done.stopped => {
                        walked.push((unit.name, done));
                        return Err(Interrupted::of_run(Some(queue.run_id())).into());
                    }
                    Ok(done) => walked.push((unit.name, done)),
                    Err(BatchError::LeaseLost { table }) => tracing::warn!(
                        "{table}: {owner} held a range past its lease and another worker took it over; its batch in flight was rolled back"
                    ),
                    Err(err) => {
                        lease.release().await;
                        // The other workers stop after their batch in flight.
                        cancel.cancel();
                        return Err(err);
                    }
                }
            }
            Claim::Wait { phase, unfinished } => {
                match ledger::requested(db, queue.run_id())
                    .await
                    .map_err(failed)?
                {
                    Request::Cancel => {
                        return Err(Interrupted::of_run(Some(queue.run_id())).into());
                    }
                    Request::Pause | Request::Go => {}
                }
                if let Some(phase) = phase {
                    // Only a request: the busy workers finish their ranges anyway.
                    if let Err(err) = queue.want_split(phase).await {
                        tracing::debug!("could not ask for a split ({})", db_message(&err));
                    }
                }
                if !waiting {
                    tracing::info!(
                        "{owner}: waiting: the free ranges are taken ({unfinished} of the run unfinished)"
                    );
                    waiting = true;
                }
                tokio::time::sleep(IDLE_WAIT).await;
            }
        }
    }
}

/// Each unit's report: its counters (the run's totals where there are some), and the
/// batch times and sizes of its walks in this process.
fn reports<J: WorkPlan>(
    jobs: &J,
    walked: Vec<(&'static str, WalkedRange)>,
    totals: Option<BTreeMap<String, (Counters, RangeTally)>>,
) -> Vec<UnitReport> {
    jobs.units()
        .iter()
        .map(|unit| {
            let mut counters = Counters::default();
            let mut processed_here = 0;
            let mut timings = Vec::new();
            let mut sizes: Option<(u64, u64)> = None;
            for (_, walk) in walked.iter().filter(|(name, _)| *name == unit.name) {
                counters.add(&walk.counters);
                processed_here += walk.processed_here;
                timings.extend_from_slice(&walk.timings);
                sizes = match (sizes, walk.batch_sizes) {
                    (Some((low, high)), Some((l, h))) => Some((low.min(l), high.max(h))),
                    (sizes, more) => sizes.or(more),
                };
            }
            let tally = match totals.as_ref().and_then(|totals| totals.get(unit.name)) {
                Some((total, tally)) => {
                    counters = *total;
                    Some(tally.clone())
                }
                None => None,
            };
            let mut report = UnitReport::new(unit.name, counters, &timings);
            report.processed_here = processed_here;
            report.batch_sizes = sizes;
            report.ranges = tally;
            report
        })
        .collect()
}
