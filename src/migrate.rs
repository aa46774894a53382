//! `migrate`: the migration crate's commands from the main binary, and `migrate check`,
//! the CI gate: up → down → up on a scratch database of the same backend with the
//! schema compared to the entities, plus a read-only look at the given database.

use anyhow::{Context, Result};
use migration::{Migrator, MigratorTrait};
use sea_orm_migration::{MigrationStatus, SchemaManager};
use serde::Serialize;

use crate::backend::{Db, db_message};
use crate::error::Outcome;
use crate::schema;

/// What a migrate command did or found, for the report.
#[derive(Debug, Default, Serialize)]
pub struct MigrateReport {
    pub action: String,
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    /// Steps of `check` on the scratch database, each with its result.
    pub scratch_steps: Vec<String>,
    /// Differences between entities and schema (scratch and given database).
    pub drift: Vec<String>,
    pub data_dropped: bool,
    pub passed: bool,
}

/// What `migrate` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Apply pending migrations: all, or the next N.
    Up(Option<u32>),
    /// Roll back the last N applied migrations.
    Down(u32),
    Status,
    Fresh,
    Refresh,
    Reset,
    Check,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Up(_) => "up",
            Self::Down(_) => "down",
            Self::Status => "status",
            Self::Fresh => "fresh",
            Self::Refresh => "refresh",
            Self::Reset => "reset",
            Self::Check => "check",
        }
    }
}

pub async fn run(db: &Db, action: Action) -> Result<(MigrateReport, Outcome)> {
    let mut report = MigrateReport {
        action: action.name().to_string(),
        passed: true,
        ..Default::default()
    };
    match action {
        Action::Up(num) => {
            db.backend().prepare_new_database(db).await?;
            Migrator::up(db.connection(), num)
                .await
                .context("migrate up failed")?
        }
        Action::Down(num) => Migrator::down(db.connection(), Some(num))
            .await
            .context("migrate down failed")?,
        Action::Status => {}
        Action::Fresh => {
            Migrator::fresh(db.connection())
                .await
                .context("migrate fresh failed")?;
            report.data_dropped = true;
        }
        Action::Refresh => {
            Migrator::refresh(db.connection())
                .await
                .context("migrate refresh failed")?;
            report.data_dropped = true;
        }
        Action::Reset => {
            Migrator::reset(db.connection())
                .await
                .context("migrate reset failed")?;
            report.data_dropped = true;
        }
        Action::Check => return check(db).await,
    }
    list_status(db, &mut report).await?;
    Ok((report, Outcome::Passed))
}

async fn list_status(db: &Db, report: &mut MigrateReport) -> Result<()> {
    let migrations = Migrator::get_migration_with_status_read_only(db.connection())
        .await
        .context("could not read the migration status")?;
    for migration in migrations {
        match migration.status() {
            MigrationStatus::Applied => report.applied.push(migration.name().to_string()),
            MigrationStatus::Pending => report.pending.push(migration.name().to_string()),
        }
    }
    Ok(())
}

/// `migrate check`.
async fn check(db: &Db) -> Result<(MigrateReport, Outcome)> {
    let mut report = MigrateReport {
        action: "check".into(),
        ..Default::default()
    };
    let scratch = Scratch::create(db).await?;
    // The scratch database, once migrated, is the reference for keys and indexes.
    let result = match exercise(&scratch.conn, &mut report).await {
        Ok(()) => schema::missing_keys(&scratch.conn, db).await,
        Err(err) => Err(err),
    };
    scratch.drop(db).await?;
    let missing_keys = result?;

    list_status(db, &mut report).await?;
    // Pending migrations fail the gate, and do not excuse drift in what is applied.
    for drift in schema::drift(db).await?.into_iter().chain(missing_keys) {
        report.drift.push(format!("this database: {drift}"));
    }
    report.passed = report.pending.is_empty()
        && report.drift.is_empty()
        && report.scratch_steps.iter().all(|s| s.ends_with(": ok"));
    let outcome = Outcome::from_passed(report.passed);
    Ok((report, outcome))
}

/// up → down → up on the scratch database, the schema compared after each up.
async fn exercise(scratch: &Db, report: &mut MigrateReport) -> Result<()> {
    for step in ["up", "down", "up"] {
        let result = match step {
            "up" => Migrator::up(scratch.connection(), None).await,
            _ => Migrator::down(scratch.connection(), None).await,
        };
        match result {
            Ok(()) => report.scratch_steps.push(format!("{step}: ok")),
            Err(err) => {
                report
                    .scratch_steps
                    .push(format!("{step}: failed: {}", db_message(&err)));
                return Ok(());
            }
        }
        if step == "up" {
            for drift in schema::drift(scratch).await? {
                report.drift.push(format!("after {step}: {drift}"));
            }
        } else {
            for (table, _) in schema::expected_schema() {
                if SchemaManager::new(scratch.connection())
                    .has_table(&table)
                    .await?
                {
                    report
                        .drift
                        .push(format!("after down: table `{table}` is still there"));
                }
            }
        }
    }
    Ok(())
}

/// A throwaway database of the same backend as the one checked.
struct Scratch {
    conn: Db,
    name: String,
}

impl Scratch {
    async fn create(db: &Db) -> Result<Self> {
        let name = format!(
            "backfill_check_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
        );
        let conn = db.backend().create_scratch(db, &name).await?;
        Ok(Self { conn, name })
    }

    async fn drop(self, db: &Db) -> Result<()> {
        self.conn.close().await.ok();
        db.backend().drop_scratch(db, &self.name).await
    }
}
