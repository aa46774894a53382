//! The life of a run that both backfills share: the schema it needs, its ledger (a new
//! run, the one to resume, or one joined from another process), its ranges cut for the
//! workers, the engine's workers walking them, how the walk ended recorded, and the
//! run closed. A job brings its tables, its units and its batch jobs; a dry run
//! records nothing and walks each unit whole.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{self, Db, Schema};
use crate::engine::{self, Cancel, Checkpoint, EngineSettings, RangeQueue, UnitReport, WorkPlan};
use crate::ledger::{RunLedger, RunStatus};

/// The bookkeeping tables every run writes.
const BOOKKEEPING: [&str; 4] = [
    "backfill_anomalies",
    "backfill_runs",
    "backfill_journal",
    "backfill_ranges",
];

/// Refuses, before anything is written, a database a run of a job needing `schema`
/// cannot work on: a table or column missing, or (unless `dry_run`) no writes allowed.
pub async fn require(db: &Db, mut schema: Schema, dry_run: bool) -> Result<()> {
    schema.extend(BOOKKEEPING.map(|table| (table, &[] as &[&str])));
    backend::require_schema(db, &schema).await?;
    if !dry_run {
        backend::require_writable(db).await?;
    }
    Ok(())
}

/// One run of a backfill as this process takes part in it.
pub struct Run {
    /// None in a dry run: nothing is recorded.
    ledger: Option<RunLedger>,
}

impl Run {
    /// A run of `command` recording `recorded` as its settings: a new one, or with
    /// `resume` the latest unfinished one; in a dry run, none.
    pub async fn open(
        db: &Db,
        command: &str,
        recorded: &impl Serialize,
        dry_run: bool,
        resume: bool,
    ) -> Result<Self> {
        let ledger = RunLedger::open(db, command, recorded, dry_run, resume).await?;
        Ok(Self { ledger })
    }

    /// Joins live run `id` from another process (`work --run ID`): its command and the
    /// run, or `None` when it is done and nothing is left to join.
    pub async fn join(db: &Db, id: i64) -> Result<Option<(String, Self)>> {
        let joined = RunLedger::join(db, id).await?;
        Ok(joined.map(|(command, ledger)| {
            (
                command,
                Self {
                    ledger: Some(ledger),
                },
            )
        }))
    }

    pub fn id(&self) -> Option<i64> {
        self.ledger.as_ref().map(|ledger| ledger.id)
    }

    /// The settings the run recorded when it started; `None` in a dry run.
    pub fn recorded<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.ledger.as_ref().map(RunLedger::settings).transpose()
    }

    /// Lets `engine.workers` workers of this process walk the run's ranges of `plan`'s
    /// units until none is left, and returns each unit's report. A run this process
    /// started or resumed is closed as interrupted or failed when the walk stops
    /// early; a joined one is left to the processes still working on it.
    pub async fn work(
        &self,
        db: &Db,
        engine: &EngineSettings,
        plan: &impl WorkPlan,
        cancel: &Cancel,
    ) -> Result<Vec<UnitReport>> {
        let walked = async {
            let queue = match &self.ledger {
                Some(ledger) => Some(queue(db, ledger, engine, plan).await?),
                None => None,
            };
            anyhow::Ok(engine::work(db, engine, queue.as_ref(), plan, cancel).await?)
        }
        .await;
        match &self.ledger {
            Some(ledger) if !ledger.joined() => ledger.settle(db, walked).await,
            _ => walked,
        }
    }

    /// Closes the run as done, with its summary.
    pub async fn finish(&self, db: &Db, summary: &impl Serialize) -> Result<()> {
        match &self.ledger {
            Some(ledger) => ledger.finish(db, RunStatus::Done, summary).await,
            None => Ok(()),
        }
    }
}

/// The run's ranges for the workers of this process, cut for the units of `plan` first
/// by the process that started or resumed the run, if they are not yet: a range per
/// worker of each table (every range started costs a read that overlaps nothing;
/// workers that finish early split the ranges still large).
async fn queue(
    db: &Db,
    ledger: &RunLedger,
    engine: &EngineSettings,
    plan: &impl WorkPlan,
) -> Result<RangeQueue> {
    let queue = RangeQueue::new(db, ledger.id, engine);
    if !ledger.joined() {
        let legacy: BTreeMap<String, Checkpoint> = ledger.legacy_checkpoints()?;
        queue
            .ensure_cut(plan.units(), u64::from(engine.workers), &legacy)
            .await
            .with_context(|| format!("could not cut run {} into ranges", ledger.id))?;
    }
    queue
        .release_dead()
        .await
        .with_context(|| format!("could not read the ranges of run {}", ledger.id))?;
    Ok(queue)
}
