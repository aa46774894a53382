//! `backfill-features`: on the shared engine, phase 1 (`upsert`) walks `tests` and
//! upserts the features each payload lists into `test_features`; phase 2
//! (`attribution`) walks `bugs` and sets `test_feature_id` from each bug's payload. No
//! `bugs` range is claimed before every `tests` range is done: attribution reads what
//! phase 1 wrote.
//! Rows that already match are not written, so a second run changes nothing. Tenants
//! never mix: a row or a reference of another customer is an anomaly, never a write.

mod attribution;
mod journal;
pub mod payload;
mod planned;
mod rollback;
mod stored;
mod upsert;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::run::{Run, RunEnd};
use crate::backend::{Backend, Db, KeyKind, Schema, TableKey};
use crate::engine::{
    Cancel, EngineSettings, KeysetWalker, Unit, UnitReport, WalkedRange, WorkPlan, Worked,
};
use crate::error::{BatchError, Outcome};
use crate::ledger::Resume;
use crate::validate::{self, Coverage};

use attribution::AttributionJob;
use planned::Planned;
use upsert::FeatureJob;

pub use rollback::rollback;

pub const COMMAND: &str = "backfill-features";

/// What the job reads and writes of the database (`backfill_anomalies` holds what it
/// logs; the run's bookkeeping is the run skeleton's).
pub fn schema() -> Schema {
    ["tests", "bugs", "test_features"]
        .map(|table| (table, &[] as &[&str]))
        .into()
}

const TESTS: TableKey = TableKey {
    table: "tests",
    column: "id",
    kind: KeyKind::Integer,
};
const BUGS: TableKey = TableKey {
    table: "bugs",
    column: "id",
    kind: KeyKind::Integer,
};

/// The two phases, as the run's units: the upserts over `tests`, then attribution.
const PHASES: [Unit; 2] = [
    Unit {
        name: "test_features",
        key: TESTS,
        phase: 1,
    },
    Unit {
        name: "bugs",
        key: BUGS,
        phase: 2,
    },
];

/// The batch job of each phase.
struct FeaturePhases<'a> {
    backend: &'static dyn Backend,
    /// The run whose journal records what is written; none in a dry run.
    run_id: Option<i64>,
    /// What a dry run has planned so far (it writes nothing phase 2 could read).
    planned: Option<&'a Planned>,
}

impl WorkPlan for FeaturePhases<'_> {
    fn units(&self) -> &[Unit] {
        &PHASES
    }

    async fn walk(
        &self,
        walker: &mut KeysetWalker<'_>,
        unit: &Unit,
    ) -> Result<WalkedRange, BatchError> {
        let (backend, run_id, planned) = (self.backend, self.run_id, self.planned);
        match unit.key.table {
            "tests" => {
                let job = FeatureJob {
                    backend,
                    run_id,
                    planned,
                };
                walker.run(&job, unit.key, unit.name).await
            }
            _ => {
                let job = AttributionJob {
                    backend,
                    run_id,
                    planned,
                };
                walker.run(&job, unit.key, unit.name).await
            }
        }
    }
}

/// A run's settings, resolved from the flags.
#[derive(Debug, Clone)]
pub struct FeaturesSettings {
    pub engine: EngineSettings,
    /// Continue a stopped run; its phases and checkpoints are its own, the pace (batch
    /// size, sleep, lock timeout) and `validate` come from these settings.
    pub resume: Option<Resume>,
    /// Validate coverage afterwards (never in a dry run).
    pub validate: bool,
}

/// What the ledger records of a run's settings.
#[derive(Debug, Serialize, Deserialize)]
struct FeaturesRecord {
    batch_size: u64,
    validate: bool,
}

/// What a `backfill-features` run did, per phase, and the coverage after it.
#[derive(Debug, Serialize)]
pub struct FeaturesSummary {
    #[serde(flatten)]
    pub end: RunEnd,
    pub features: UnitReport,
    pub bugs: UnitReport,
    /// None when nothing was validated (`--no-validate`, a dry run, a stopped run).
    pub validation: Option<Coverage>,
    pub too_many_errors: bool,
    /// Whether validation passed; `null` when nothing was validated.
    pub passed: Option<bool>,
}

/// Runs both phases (from their checkpoints when resuming), then validation.
pub async fn run(
    db: &Db,
    settings: FeaturesSettings,
    cancel: Cancel,
) -> Result<(FeaturesSummary, Outcome)> {
    let dry_run = settings.engine.dry_run;
    let record = FeaturesRecord {
        batch_size: settings.engine.batch_size,
        validate: settings.validate,
    };
    let run = Run::open(db, COMMAND, &record, &settings.engine, settings.resume).await?;
    let planned = match dry_run {
        true => Some(Planned::new().await?),
        false => None,
    };
    let phases = FeaturePhases {
        backend: db.backend(),
        run_id: run.id(),
        planned: planned.as_ref(),
    };
    let worked = run.work(db, &settings.engine, &phases, &cancel).await?;
    let end = run.end(db, worked.stopped.is_some()).await?;
    let [features, bugs]: [UnitReport; 2] = worked
        .reports
        .try_into()
        .map_err(|_| anyhow::anyhow!("BUG: a features run has two phases"))?;
    let mut total = features.counters;
    total.add(&bugs.counters);
    let too_many_errors = total.too_many_errors();
    let validation = if settings.validate && !dry_run && !end.stopped() {
        Some(validate::coverage(db, validate::DEFAULT_THRESHOLD).await?)
    } else {
        None
    };
    let passed = validation.as_ref().map(Coverage::passes);
    let outcome = end.outcome(!too_many_errors && passed != Some(false));
    let summary = FeaturesSummary {
        end,
        features,
        bugs,
        validation,
        too_many_errors,
        passed,
    };
    run.finish(db, &summary.end, &summary).await?;
    Ok((summary, outcome))
}

/// Works on `run` of `backfill-features`, joined from another process, until no range
/// is left. Returns each phase's report (the run's totals).
pub async fn join(
    db: &Db,
    run: &Run,
    mut engine: EngineSettings,
    cancel: Cancel,
) -> Result<Worked> {
    if let Some(record) = run.recorded::<FeaturesRecord>()? {
        engine.batch_size = record.batch_size;
    }
    let phases = FeaturePhases {
        backend: db.backend(),
        run_id: run.id(),
        planned: None,
    };
    run.work(db, &engine, &phases, &cancel).await
}
