//! The life of a run that both backfills share: the schema it needs, its ledger (a new
//! run, the one to resume, or one joined from another process), its ranges cut for the
//! workers, the engine's workers walking them, how the walk ended recorded, and the
//! run closed. A job brings its tables, its units and its batch jobs; a dry run
//! records nothing and walks each unit whole.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use entity::backfill_journal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{self, Db, Schema};
use crate::engine::{self, Cancel, Checkpoint, EngineSettings, RangeQueue, WorkPlan, Worked};
use crate::error::{Outcome, is_interruption};
use crate::ledger::{Resume, RunLedger, RunStatus};
use crate::notify::{self, Event, Notifier, Targets};
use crate::settings;

/// The bookkeeping tables every run writes.
const BOOKKEEPING: [&str; 6] = [
    "backfill_anomalies",
    "backfill_runs",
    "backfill_journal",
    "backfill_ranges",
    "backfill_settings",
    "backfill_samples",
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
    command: &'static str,
    /// None in a dry run: nothing is recorded.
    ledger: Option<RunLedger>,
    /// Where the run's status changes are told (`--notify`).
    notifier: Notifier,
}

/// How a run ended, as its summary tells it: the run, whether it finished or was
/// stopped between batches, and the commands that move it on from there.
#[derive(Debug, Clone, Serialize)]
pub struct RunEnd {
    pub run_id: Option<i64>,
    pub dry_run: bool,
    /// `done`, or `interrupted` (stopped between batches; `resume` continues it).
    pub status: &'static str,
    /// The command that continues a stopped run.
    pub resume: Option<String>,
    /// The command that undoes the run, when there is something to undo.
    pub undo: Option<String>,
}

impl RunEnd {
    pub fn stopped(&self) -> bool {
        self.status == RunStatus::Interrupted.as_str()
    }

    /// How the command ends: interrupted (130), or as its checks say.
    pub fn outcome(&self, passed: bool) -> Outcome {
        match self.stopped() {
            true => Outcome::Interrupted(self.run_id),
            false => Outcome::from_passed(passed),
        }
    }
}

impl Run {
    /// A run of `command` recording `recorded` as its settings, with the values of
    /// the settings it may change and its `--notify` URLs from `engine`: a new one, or
    /// with `resume` the stopped one it names; in a dry run, none.
    pub async fn open(
        db: &Db,
        command: &'static str,
        recorded: &impl Serialize,
        engine: &EngineSettings,
        resume: Option<Resume>,
    ) -> Result<Self> {
        let mut record = serde_json::to_value(recorded)?;
        if let Some(record) = record.as_object_mut() {
            record.insert(
                settings::STARTED_WITH.into(),
                settings::started_with(&engine.changeable()),
            );
            record.insert(
                notify::RECORDED_AS.into(),
                serde_json::to_value(&engine.notify)?,
            );
        }
        let ledger = RunLedger::open(db, command, &record, engine.dry_run, resume).await?;
        let notifier = match &ledger {
            // A resumed run tells those it was started with, and any given now.
            Some(ledger) => Notifier::new(
                Targets::recorded(ledger.recorded()).and(&engine.notify),
                ledger.id,
                command,
            ),
            None => Notifier::default(),
        };
        let event = match resume {
            Some(_) => Event::Resumed,
            None => Event::Started,
        };
        notifier.tell(db, event).await;
        Ok(Self {
            command,
            ledger,
            notifier,
        })
    }

    /// Joins live run `id` from another process (`work --run ID`) as a run of one of
    /// `commands`, or `None` when it is done and nothing is left to join.
    pub async fn join(db: &Db, id: i64, commands: &[&'static str]) -> Result<Option<Self>> {
        let Some((command, ledger)) = RunLedger::join(db, id).await? else {
            return Ok(None);
        };
        let Some(command) = commands.iter().copied().find(|known| *known == command) else {
            anyhow::bail!(crate::error::UsageError::new(format!(
                "run {id} is a `{command}` run, which `work` cannot join"
            )));
        };
        let notifier = Notifier::of_run(ledger.recorded(), ledger.id, command);
        Ok(Some(Self {
            command,
            ledger: Some(ledger),
            notifier,
        }))
    }

    /// The command the run is of.
    pub fn command(&self) -> &'static str {
        self.command
    }

    pub fn id(&self) -> Option<i64> {
        self.ledger.as_ref().map(|ledger| ledger.id)
    }

    /// The settings the run recorded when it started; `None` in a dry run.
    pub fn recorded<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.ledger.as_ref().map(RunLedger::settings).transpose()
    }

    /// Lets `engine.workers` workers of this process walk the run's ranges of `plan`'s
    /// units until none is left (or they are stopped between batches), and returns
    /// what they did. A run this process started or resumed is recorded as
    /// interrupted or failed when the walk stops early; a joined one is left to the
    /// processes still working on it.
    pub async fn work(
        &self,
        db: &Db,
        engine: &EngineSettings,
        plan: &impl WorkPlan,
        cancel: &Cancel,
    ) -> Result<Worked> {
        let walked = async {
            let queue = match &self.ledger {
                Some(ledger) => Some(queue(db, ledger, engine, self.notifier.clone(), plan).await?),
                None => None,
            };
            anyhow::Ok(engine::work(db, engine, queue.as_ref(), plan, cancel).await?)
        }
        .await;
        let Some(ledger) = self.ledger.as_ref().filter(|ledger| !ledger.joined()) else {
            self.notifier.flush();
            return walked;
        };
        let stopped = match &walked {
            Ok(worked) if worked.stopped.is_none() => None,
            Ok(_) => Some(RunStatus::Interrupted),
            Err(err) if is_interruption(err) => Some(RunStatus::Interrupted),
            Err(_) => Some(RunStatus::Failed),
        };
        // A run stopped by `runs cancel` stays cancelled, as that command told.
        if let Some(status) = stopped
            && ledger.stopped(db, status).await
        {
            let event = match status {
                RunStatus::Failed => Event::Failed,
                _ => Event::Interrupted,
            };
            self.notifier.tell(db, event).await;
            self.notifier.flush();
        }
        walked
    }

    /// How the run ended: `stopped` between batches, or done; with the commands that
    /// continue or undo it where they apply.
    pub async fn end(&self, db: &Db, stopped: bool) -> Result<RunEnd> {
        let run_id = self.ledger.as_ref().map(|ledger| ledger.id);
        let undo = match run_id {
            Some(id) if journaled(db, id).await? => {
                Some(format!("backfill {} --rollback --run {id}", self.command))
            }
            _ => None,
        };
        let status = match stopped {
            true => RunStatus::Interrupted,
            false => RunStatus::Done,
        };
        Ok(RunEnd {
            run_id,
            dry_run: self.ledger.is_none(),
            status: status.as_str(),
            resume: run_id
                .filter(|_| stopped)
                .map(|id| format!("backfill {} --resume --run {id}", self.command)),
            undo,
        })
    }

    /// Closes the run as done, with its summary; a stopped run stays as `work` left it.
    pub async fn finish(&self, db: &Db, end: &RunEnd, summary: &impl Serialize) -> Result<()> {
        match &self.ledger {
            Some(ledger) if !end.stopped() => {
                ledger.finish(db, RunStatus::Done, summary).await?;
                self.notifier.tell(db, Event::Done).await;
                self.notifier.flush();
                Ok(())
            }
            _ => Ok(()),
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
    notifier: Notifier,
    plan: &impl WorkPlan,
) -> Result<RangeQueue> {
    let queue = RangeQueue::new(db, ledger.id, engine, notifier);
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

/// Whether run `id` journaled a change, so that `--rollback --run ID` has something to
/// undo.
async fn journaled(db: &Db, id: i64) -> Result<bool> {
    let entry = backfill_journal::Entity::find()
        .filter(backfill_journal::Column::RunId.eq(id))
        .one(db)
        .await
        .context("could not read backfill_journal")?;
    Ok(entry.is_some())
}
