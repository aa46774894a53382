//! `demo`: the newcomer's first run. On `demo.db`, a SQLite file it owns (marked with
//! its own `application_id`) and recreates, it migrates, seeds a small imperfect
//! dataset, runs both backfills and validation, and returns what happened, which
//! `report` tells.

use std::path::Path;

use anyhow::{Context, Result, bail};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::Serialize;

use crate::backend::{self, ConnectSettings, DatabaseUrl, Db};
use crate::engine::{Cancel, EngineSettings};
use crate::error::UsageError;
use crate::jobs::features::{self, FeaturesSettings, FeaturesSummary};
use crate::jobs::project_id::{self, ProjectIdSettings, ProjectIdSummary};
use crate::seed::{self, SeedSettings, SeedSummary};
use crate::validate::{self, ValidationReport};

/// `PRAGMA application_id` of a file the demo created ("BFDM").
const DEMO_APPLICATION_ID: i64 = 0x4246_444D;
/// The table whose rejected row the demo stages.
pub const HELD_TABLE: &str = "working_memory";

#[derive(Debug, Serialize)]
pub struct DemoSummary {
    pub database: String,
    pub seed: SeedSummary,
    pub features: FeaturesSummary,
    pub project_id: ProjectIdSummary,
    pub validation: ValidationReport,
    pub anomalies_by_kind: Vec<(String, i64)>,
    pub held_row: Option<i64>,
}

/// Runs the demo on its own SQLite file `file` and returns what happened, for the
/// report.
pub async fn run(file: &str) -> Result<DemoSummary> {
    let path = Path::new(file);
    claim_file(path).await?;
    let url = DatabaseUrl::new(format!("sqlite://{}?mode=rwc", path.display()));
    let db = backend::connect(&url, &ConnectSettings::default()).await?;
    db.execute_unprepared(&format!("PRAGMA application_id = {DEMO_APPLICATION_ID}"))
        .await?;
    db.backend().prepare_new_database(&db).await?;
    Migrator::up(db.connection(), None)
        .await
        .context("migrating demo.db failed")?;
    let seed = seed::run(&db, &demo_seed()).await?;
    let held_row = stage_rejected_row(&db).await?;

    let cancel = Cancel::on_signals();
    let engine = EngineSettings::with_batch_size(500);
    let features_settings = FeaturesSettings {
        engine: engine.clone(),
        resume: None,
        validate: false,
    };
    let (features, _) = features::run(&db, features_settings, cancel.clone()).await?;
    let project_settings = ProjectIdSettings {
        engine: EngineSettings {
            batch_size: 100,
            ..engine
        },
        tables: migration::MEMORY_TABLES.to_vec(),
        resume: None,
        validate: true,
        promote_not_null: false,
    };
    let (project_id, _) = project_id::run(&db, project_settings, cancel).await?;
    let (validation, _) = validate::run(&db, validate::DEFAULT_THRESHOLD, false).await?;
    let anomalies_by_kind = anomaly_counts(&db).await?;
    db.close().await.ok();
    Ok(DemoSummary {
        database: file.to_string(),
        seed,
        features,
        project_id,
        validation,
        anomalies_by_kind,
        held_row,
    })
}

/// Deletes a previous demo file; refuses any other non-empty file.
async fn claim_file(path: &Path) -> Result<()> {
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(_) => return Ok(()),
    };
    if size > 0 {
        let url = DatabaseUrl::new(format!("sqlite://{}?mode=ro", path.display()));
        let probe = backend::connect(&url, &ConnectSettings::default()).await;
        let id = match probe {
            Ok(conn) => {
                let row = conn
                    .query_one_raw(Statement::from_string(
                        DatabaseBackend::Sqlite,
                        "PRAGMA application_id",
                    ))
                    .await
                    .ok()
                    .flatten();
                conn.close().await.ok();
                row.and_then(|r| r.try_get_by_index::<i64>(0).ok())
            }
            Err(_) => None,
        };
        if id != Some(DEMO_APPLICATION_ID) {
            bail!(UsageError::new(format!(
                "`{}` exists and was not created by `backfill demo`: the demo will not touch it (remove it or pass --file)",
                path.display()
            )));
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = format!("{}{suffix}", path.display());
        if Path::new(&file).exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("could not remove the old {file}"))?;
        }
    }
    Ok(())
}

fn demo_seed() -> SeedSettings {
    SeedSettings {
        seed: 7,
        tests: 2000,
        features_per_test: 3,
        bugs_per_test: 3,
        customers: 5,
        memory_rows: 300,
        malformed_json: 0.005,
        features_without_id: 0.005,
        bugs_without_feature: 0.01,
        bugs_missing_feature: 0.005,
        bugs_foreign_feature: 0.005,
        null_project_id: 0.3,
        alias_project_id: 0.05,
        chunk: 5000,
    }
}

/// A trigger standing for an application rule ("legal hold") that refuses to let one
/// legacy row change: the backfill must log it and go on.
async fn stage_rejected_row(db: &Db) -> Result<Option<i64>> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            format!("SELECT MIN(id) FROM {HELD_TABLE} WHERE project_id IS NULL"),
        ))
        .await?;
    let Some(id) = row
        .and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok())
        .flatten()
    else {
        return Ok(None);
    };
    db.execute_unprepared(&format!(
        "CREATE TRIGGER demo_legal_hold BEFORE UPDATE ON {HELD_TABLE} WHEN OLD.id = {id} \
         BEGIN SELECT RAISE(ABORT, 'row {id} is under legal hold and may not change'); END"
    ))
    .await?;
    Ok(Some(id))
}

async fn anomaly_counts(db: &Db) -> Result<Vec<(String, i64)>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT kind, COUNT(*) FROM backfill_anomalies WHERE resolved = 0 GROUP BY kind ORDER BY kind",
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
        .collect()
}
