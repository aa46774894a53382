//! `runs`: the runs in the ledger as a person watching them wants to see them (status,
//! progress per table or phase against the estimate, rate, ETA, batch size, why it is
//! held), and `pause`, `continue` and `cancel`, which act on a run started by any
//! process: the state lives in `backfill_runs`, which every process of the run reads
//! between its batches.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, Utc};
use entity::backfill_runs::{self, Column};
use entity::backfill_settings;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::backend::Db;
use crate::engine::{Checkpoint, RangeState, RangeTally, range_states};
use crate::error::UsageError;
use crate::ledger::{self, RunStatus};
use crate::notify::{self, Event};
use crate::settings;

/// At most this many runs are listed.
const LISTED: u64 = 50;

/// One run as `runs` shows it.
#[derive(Debug, Serialize)]
pub struct RunView {
    pub id: i64,
    pub command: String,
    pub status: String,
    pub started_at: DateTime<FixedOffset>,
    pub finished_at: Option<DateTime<FixedOffset>>,
    /// The process that started it, as `pid@host`.
    pub worker: String,
    pub units: Vec<UnitView>,
    /// Its ranges, one by one, when one run is shown (`--run ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<RangeState>>,
    /// The changes of its settings, oldest first, when one run is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<backfill_settings::Model>>,
}

/// One table or phase of a run.
#[derive(Debug, Serialize)]
pub struct UnitView {
    pub unit: String,
    pub done: bool,
    pub rows: u64,
    pub estimate: Option<u64>,
    pub rows_per_second: Option<f64>,
    pub eta_seconds: Option<u64>,
    pub batch_size: Option<u64>,
    pub batches: u64,
    pub held: Option<String>,
    pub ranges: RangeTally,
    /// The workers holding its ranges now.
    pub workers: Vec<String>,
}

/// Runs newest first: the unfinished ones (live, or stopped and resumable), or all; or
/// only the run `id`.
pub async fn list(db: &Db, id: Option<i64>, all: bool) -> Result<Vec<RunView>> {
    let mut query = backfill_runs::Entity::find().order_by_desc(Column::Id);
    if let Some(id) = id {
        query = query.filter(Column::Id.eq(id));
    } else if !all {
        // An interrupted or cancelled run has an end time but is not finished.
        query = query.filter(Column::Status.is_not_in(RunStatus::FINISHED));
    }
    let runs = query
        .limit(LISTED)
        .all(db)
        .await
        .context("could not read backfill_runs")?;
    if let (Some(id), true) = (id, runs.is_empty()) {
        bail!(UsageError::new(format!("there is no run {id}")));
    }
    let mut views = Vec::new();
    for run in runs {
        views.push(view(db, run, id.is_some()).await?);
    }
    Ok(views)
}

async fn view(db: &Db, run: backfill_runs::Model, one: bool) -> Result<RunView> {
    let mut ranges = range_states(db, run.id)
        .await
        .with_context(|| format!("could not read the ranges of run {}", run.id))?;
    if ranges.is_empty() {
        // A run recorded before ranges kept one checkpoint per table or phase.
        let checkpoints: BTreeMap<String, Checkpoint> = serde_json::from_value(run.checkpoints)
            .with_context(|| format!("run {} has unreadable checkpoints", run.id))?;
        ranges = checkpoints
            .into_iter()
            .map(|(unit, checkpoint)| RangeState {
                id: 0,
                unit,
                after: None,
                upto: None,
                done: checkpoint.done,
                worker: None,
                checkpoint,
            })
            .collect();
    }
    let mut units: Vec<UnitView> = Vec::new();
    for range in &ranges {
        let at = match units.iter().position(|unit| unit.unit == range.unit) {
            Some(at) => at,
            None => {
                units.push(UnitView::new(&range.unit));
                units.len() - 1
            }
        };
        units[at].add(range);
    }
    for unit in &mut units {
        unit.finish();
    }
    Ok(RunView {
        id: run.id,
        command: run.command,
        status: run.status,
        started_at: run.started_at,
        finished_at: run.finished_at,
        worker: format!("{}@{}", run.pid, run.host),
        units,
        ranges: one.then_some(ranges),
        changes: match one {
            true => Some(settings::history(db, run.id).await?),
            false => None,
        },
    })
}

impl UnitView {
    fn new(unit: &str) -> Self {
        Self {
            unit: unit.to_string(),
            done: true,
            rows: 0,
            estimate: None,
            rows_per_second: None,
            eta_seconds: None,
            batch_size: None,
            batches: 0,
            held: None,
            ranges: RangeTally::default(),
            workers: Vec::new(),
        }
    }

    /// Adds one range of the unit: its rows and batches; the rates of the workers on
    /// it add up.
    fn add(&mut self, range: &RangeState) {
        let Checkpoint {
            counters, progress, ..
        } = &range.checkpoint;
        self.done &= range.done;
        self.rows += counters.processed;
        self.batches += counters.batches;
        self.estimate = self.estimate.max(progress.estimate);
        range.count_in(&mut self.ranges);
        if let Some(worker) = &range.worker {
            self.workers.push(worker.clone());
            if let Some(rate) = progress.rate {
                self.rows_per_second = Some(self.rows_per_second.unwrap_or(0.0) + rate);
            }
            self.batch_size = self.batch_size.or(progress.batch_size);
            self.held = self.held.take().or_else(|| progress.held.clone());
        }
    }

    fn finish(&mut self) {
        self.estimate = self.estimate.map(|estimate| estimate.max(self.rows));
        self.eta_seconds = match (self.estimate, self.rows_per_second, self.done) {
            (_, _, true) => Some(0),
            (Some(estimate), Some(rate), false) if rate > 0.0 => {
                Some(((estimate - self.rows) as f64 / rate).ceil() as u64)
            }
            _ => None,
        };
    }
}

/// What `runs pause|continue|cancel|abandon` asks of a run.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    Pause,
    Continue,
    Cancel,
    /// Gives up a stopped run: it ends, is never resumed, and keeps its journal.
    Abandon,
}

impl Control {
    /// What the control does, as in "run 3 cannot be paused".
    fn done(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Continue => "continued",
            Self::Cancel => "cancelled",
            Self::Abandon => "abandoned",
        }
    }

    /// The change of status it makes, as `--notify` tells it.
    fn event(self) -> Event {
        match self {
            Self::Pause => Event::Paused,
            Self::Continue => Event::Resumed,
            Self::Cancel => Event::Cancelled,
            Self::Abandon => Event::Abandoned,
        }
    }

    /// The states the run may be in, and the one it is put in.
    fn transition(self) -> (&'static [&'static str], RunStatus) {
        match self {
            Self::Pause => (&["running", "throttled"], RunStatus::Paused),
            Self::Continue => (&["paused"], RunStatus::Running),
            Self::Cancel => (&RunStatus::LIVE, RunStatus::Cancelled),
            Self::Abandon => (&RunStatus::RESUMABLE, RunStatus::Abandoned),
        }
    }
}

/// Puts run `id` in the state `control` asks for; its processes act on it after their
/// batch in flight. Returns the new status.
pub async fn control(db: &Db, id: i64, control: Control) -> Result<RunStatus> {
    let (from, to) = control.transition();
    let mut update = backfill_runs::Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.is_in(from.iter().copied()));
    if let Control::Abandon = control {
        update = update.col_expr(
            Column::FinishedAt,
            Expr::value(Some(Utc::now().fixed_offset())),
        );
    }
    let changed = update
        .exec(db)
        .await
        .context("could not update backfill_runs")?;
    let run = ledger::find(db, id).await?;
    if changed.rows_affected == 1 {
        notify::tell_once(db, &run, control.event()).await;
        return Ok(to);
    }
    let stopped = run.status.parse().is_ok_and(RunStatus::is_resumable);
    let live = RunStatus::LIVE.contains(&run.status.as_str());
    bail!(UsageError::new(match control {
        Control::Cancel | Control::Pause if stopped => format!(
            "run {id} is {}, stopped already: continue it with `backfill {} --resume --run {id}`, or give it up with `backfill runs abandon {id}`",
            run.status, run.command
        ),
        Control::Abandon if live => format!(
            "run {id} is {} in a live process: cancel it first with `backfill runs cancel {id}`, then abandon it",
            run.status
        ),
        _ if run.status == to.as_str() => format!("run {id} is {} already", run.status),
        _ => format!(
            "run {id} is {}, so it cannot be {}: only a run that is {} can be",
            run.status,
            control.done(),
            from.join(" or ")
        ),
    }))
}
