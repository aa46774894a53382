//! `backfill-features`: on the shared engine, phase 1 (`upsert`) walks `tests` and
//! upserts the features each payload lists into `test_features`; phase 2
//! (`attribution`) walks `bugs` and sets `test_feature_id` from each bug's payload. No
//! `bugs` range is claimed before every `tests` range is done: attribution reads what
//! phase 1 wrote.
//! Rows that already match are not written, so a second run changes nothing. Tenants
//! never mix: a row or a reference of another customer is an anomaly, never a write.

mod attribution;
pub mod payload;
mod planned;
mod upsert;

use anyhow::Result;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::engine::{
    self, Cancel, EngineSettings, KeyKind, KeysetWalker, TableWalk, Unit, UnitJobs, UnitReport,
    Walked,
};
use crate::error::{BatchError, Outcome};
use crate::ledger::{self, RunLedger, RunStatus};
use crate::validate::{self, Coverage};

use attribution::AttributionJob;
use planned::Planned;
use upsert::FeatureJob;

pub const COMMAND: &str = "backfill-features";

/// The tables the job reads or writes (`backfill_anomalies` holds what it logs).
pub const TABLES: [&str; 4] = ["tests", "bugs", "test_features", "backfill_anomalies"];

const TESTS: TableWalk = TableWalk {
    table: "tests",
    key: "id",
    kind: KeyKind::Integer,
};
const BUGS: TableWalk = TableWalk {
    table: "bugs",
    key: "id",
    kind: KeyKind::Integer,
};

/// The two phases, as the run's units: the upserts over `tests`, then attribution.
const PHASES: [Unit; 2] = [
    Unit {
        name: "test_features",
        walk: TESTS,
        phase: 1,
    },
    Unit {
        name: "bugs",
        walk: BUGS,
        phase: 2,
    },
];

/// The job of each phase.
struct Phases<'a> {
    /// What a dry run has planned so far (it writes nothing phase 2 could read).
    planned: Option<&'a Planned>,
}

impl UnitJobs for Phases<'_> {
    fn units(&self) -> &[Unit] {
        &PHASES
    }

    async fn walk(&self, walker: &mut KeysetWalker<'_>, unit: &Unit) -> Result<Walked, BatchError> {
        let planned = self.planned;
        match unit.walk.table {
            "tests" => {
                walker
                    .run(&FeatureJob { planned }, unit.walk, unit.name)
                    .await
            }
            _ => {
                walker
                    .run(&AttributionJob { planned }, unit.walk, unit.name)
                    .await
            }
        }
    }
}

/// A run's settings, resolved from the flags.
#[derive(Debug, Clone)]
pub struct FeaturesSettings {
    pub engine: EngineSettings,
    /// Continue the latest interrupted run; its phases and checkpoints are its own, the
    /// pace (batch size, sleep, lock timeout) and `validate` come from these settings.
    pub resume: bool,
    /// Validate coverage afterwards (never in a dry run).
    pub validate: bool,
}

/// What the ledger records of a run's settings.
#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    batch_size: u64,
    validate: bool,
}

/// What a `backfill-features` run did, per phase, and the coverage after it.
#[derive(Debug, Serialize)]
pub struct FeaturesSummary {
    pub run_id: Option<i64>,
    pub dry_run: bool,
    pub features: UnitReport,
    pub bugs: UnitReport,
    pub validation: Option<Coverage>,
    pub too_many_errors: bool,
}

/// Runs both phases (from their checkpoints when resuming), then validation.
pub async fn run(
    db: &DatabaseConnection,
    settings: FeaturesSettings,
    cancel: Cancel,
) -> Result<(FeaturesSummary, Outcome)> {
    let dry_run = settings.engine.dry_run;
    let recorded = Recorded {
        batch_size: settings.engine.batch_size,
        validate: settings.validate,
    };
    let ledger = RunLedger::open(db, COMMAND, &recorded, dry_run, settings.resume).await?;
    let run_id = ledger.as_ref().map(|l| l.id);
    let planned = match dry_run {
        true => Some(Planned::new().await?),
        false => None,
    };
    let jobs = Phases {
        planned: planned.as_ref(),
    };
    let phases = async {
        let queue = match &ledger {
            Some(ledger) => Some(ledger.ranges(db, &settings.engine, &PHASES).await?),
            None => None,
        };
        let reports = engine::work(db, &settings.engine, queue.as_ref(), &jobs, &cancel).await?;
        let [features, bugs]: [UnitReport; 2] = reports
            .try_into()
            .map_err(|_| anyhow::anyhow!("BUG: a features run has two phases"))?;
        anyhow::Ok((features, bugs))
    }
    .await;
    let (features, bugs) = ledger::settle(db, ledger.as_ref(), phases).await?;
    let mut total = features.counters;
    total.add(&bugs.counters);
    let too_many_errors = total.too_many_errors();
    let validation = if settings.validate && !dry_run {
        Some(validate::coverage(db, validate::DEFAULT_THRESHOLD).await?)
    } else {
        None
    };
    let passed = !too_many_errors && validation.as_ref().is_none_or(|v| v.passed);
    let summary = FeaturesSummary {
        run_id,
        dry_run,
        features,
        bugs,
        validation,
        too_many_errors,
    };
    if let Some(ledger) = &ledger {
        ledger.finish(db, RunStatus::Done, &summary).await?;
    }
    Ok((summary, Outcome::from_passed(passed)))
}

/// Works on run `ledger` of `backfill-features`, joined from another process, until no
/// range is left. Returns each phase's report (the run's totals).
pub async fn join(
    db: &DatabaseConnection,
    ledger: &RunLedger,
    mut engine: EngineSettings,
    cancel: Cancel,
) -> Result<Vec<UnitReport>> {
    engine.batch_size = ledger.settings::<Recorded>()?.batch_size;
    let queue = ledger.ranges(db, &engine, &PHASES).await?;
    let jobs = Phases { planned: None };
    Ok(engine::work(db, &engine, Some(&queue), &jobs, &cancel).await?)
}
