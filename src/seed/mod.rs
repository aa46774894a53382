//! `seed`: a realistic synthetic dataset, the same for the same `--seed`, with chosen
//! fractions of the imperfections the backfills must cope with. Rows are generated a
//! chunk at a time (`analytics`: tests and bugs; `memory`: the eleven memory tables),
//! encoded beside the database's work and written with the backend's bulk load, so
//! memory stays flat.

mod analytics;
mod memory;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, TimeZone, Utc};
use migration::MEMORY_TABLES;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityName, EntityTrait, IdenStatic, Iterable};
use serde::Serialize;

use crate::backend::{self, Backend, BulkRows, Db};
use crate::error::UsageError;
use crate::jobs::project_id::LEGACY_ALIASES;
use memory::PgvectorColumns;

/// What to seed, resolved from the flags. Each imperfection is a fraction of its rows.
#[derive(Debug, Clone)]
pub struct SeedSettings {
    pub seed: u64,
    pub tests: u64,
    pub features_per_test: u32,
    pub bugs_per_test: u32,
    pub customers: u64,
    pub memory_rows: u64,
    pub malformed_json: f64,
    pub features_without_id: f64,
    pub bugs_without_feature: f64,
    pub bugs_missing_feature: f64,
    pub bugs_foreign_feature: f64,
    pub null_project_id: f64,
    pub alias_project_id: f64,
    /// Tests (with their bugs), or memory rows, per bulk load.
    pub chunk: usize,
}

#[derive(Debug, Serialize)]
pub struct SeedSummary {
    pub seed: u64,
    pub tests: u64,
    pub bugs: u64,
    pub memory_rows_per_table: u64,
}

/// Deterministic imperfections: item `i` falls in category `k` when the low-discrepancy
/// (golden-ratio) sequence at `i` lands in the k-th segment of [0, 1), whose lengths are
/// the chosen fractions. Each fraction holds within a handful of items at any size, the
/// categories never overlap, and the choice is the same for the same seed.
#[derive(Debug, Clone)]
struct Mix {
    fractions: Vec<f64>,
    phase: f64,
}

impl Mix {
    fn new(fractions: &[f64], rng: &mut SmallRng) -> Self {
        Self {
            fractions: fractions.to_vec(),
            phase: rng.random::<f64>(),
        }
    }

    fn pick(&self, index: u64) -> Option<usize> {
        let at = (self.phase + index as f64 * 0.618_033_988_749_894_9).fract();
        let mut edge = 0.0;
        for (category, fraction) in self.fractions.iter().enumerate() {
            edge += fraction;
            if at < edge {
                return Some(category);
            }
        }
        None
    }

    fn picks(&self, index: u64) -> bool {
        self.pick(index).is_some()
    }
}

pub async fn run(db: &Db, args: &SeedSettings) -> Result<SeedSummary> {
    for (name, fraction) in [
        ("--malformed-json", args.malformed_json),
        ("--features-without-id", args.features_without_id),
        ("--bugs-without-feature", args.bugs_without_feature),
        ("--bugs-missing-feature", args.bugs_missing_feature),
        ("--bugs-foreign-feature", args.bugs_foreign_feature),
        ("--null-project-id", args.null_project_id),
        ("--alias-project-id", args.alias_project_id),
    ] {
        if !(0.0..=1.0).contains(&fraction) {
            bail!(UsageError::new(format!(
                "{name} must be a fraction between 0 and 1 (got {fraction})"
            )));
        }
    }
    if args.bugs_without_feature + args.bugs_missing_feature + args.bugs_foreign_feature > 1.0 {
        bail!(UsageError::new(
            "the bug imperfection fractions add up to more than 1"
        ));
    }
    if args.customers == 0 {
        bail!(UsageError::new("--customers must be at least 1"));
    }
    let mut required = vec!["tests", "bugs", "test_features"];
    required.extend(MEMORY_TABLES);
    let schema: Vec<(&str, &[&str])> = required
        .iter()
        .map(|table| (*table, &[] as &[&str]))
        .collect();
    backend::require_schema(db, &schema).await?;
    for table in &required {
        if has_rows(db, table).await? {
            bail!(UsageError::new(format!(
                "table `{table}` already has rows: seed writes only into an empty database, and this one is not: point it at a new database (nothing was written)"
            )));
        }
    }
    let mut rng = SmallRng::seed_from_u64(args.seed);
    let seeder = Seeder::new(args, &mut rng);
    let mut rng = seeder.tests_and_bugs(db, rng).await?;
    let serial_tables = seeder.memory(db, &mut rng).await?;
    for statement in db.backend().after_seed(&serial_tables) {
        db.execute_unprepared(&statement)
            .await
            .context("could not finish the seed (sequences, flush to disk)")?;
    }
    Ok(SeedSummary {
        seed: args.seed,
        tests: args.tests,
        bugs: args.tests * args.bugs_per_test as u64,
        memory_rows_per_table: args.memory_rows,
    })
}

async fn has_rows(db: &impl ConnectionTrait, table: &str) -> Result<bool> {
    let query = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new(table))
        .limit(1)
        .to_owned();
    Ok(db
        .query_one(&query)
        .await
        .with_context(|| format!("could not read `{table}`"))?
        .is_some())
}

#[derive(Clone)]
struct Seeder {
    args: SeedSettings,
    epoch: DateTime<FixedOffset>,
    malformed: Mix,
    no_feature_id: Mix,
    /// No test feature, a missing one, a foreign one.
    bug_flaw: Mix,
    /// NULL, a legacy alias.
    legacy_project: Mix,
}

impl Seeder {
    fn new(args: &SeedSettings, rng: &mut SmallRng) -> Self {
        Self {
            args: args.clone(),
            epoch: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default()
                .fixed_offset(),
            malformed: Mix::new(&[args.malformed_json], rng),
            no_feature_id: Mix::new(&[args.features_without_id], rng),
            bug_flaw: Mix::new(
                &[
                    args.bugs_without_feature,
                    args.bugs_missing_feature,
                    args.bugs_foreign_feature,
                ],
                rng,
            ),
            legacy_project: Mix::new(&[args.null_project_id, args.alias_project_id], rng),
        }
    }

    fn at(&self, rng: &mut SmallRng) -> DateTime<FixedOffset> {
        self.epoch + ChronoDuration::seconds(rng.random_range(0..31_536_000))
    }

    /// Consecutive tests belong to different customers, so "the next test's feature"
    /// is always a foreign one.
    fn customer_of(&self, test_id: i64) -> i64 {
        1 + test_id % self.args.customers as i64
    }

    fn feature_id(&self, test_id: i64, index: u32) -> i64 {
        (test_id - 1) * self.args.features_per_test as i64 + index as i64 + 1
    }

    /// The `project_id` of the `index`-th row of a memory table: mostly `io`, some of
    /// another project, and the chosen fractions of NULLs and legacy aliases.
    fn project_id(&self, index: u64, rng: &mut SmallRng) -> Option<String> {
        match self.legacy_project.pick(index) {
            Some(0) => None,
            Some(_) => Some(legacy_alias(index).to_string()),
            None if rng.random_bool(0.1) => Some("aurora".into()),
            None => Some("io".into()),
        }
    }
}

/// A legacy alias of the owner, the `index`-th of the aliases and two blanks.
fn legacy_alias(index: u64) -> &'static str {
    let blanks = ["", "  "];
    let count = LEGACY_ALIASES.len() + blanks.len();
    let at = index as usize % count;
    LEGACY_ALIASES
        .get(at)
        .copied()
        .unwrap_or_else(|| blanks[at - LEGACY_ALIASES.len()])
}

/// Encodes `rows` for the backend's bulk load (`None` for no rows). Each row's values
/// are moved out of it, never copied; columns named in `vector_columns` get pgvector's
/// text form.
fn encode<A>(
    backend: &dyn Backend,
    rows: Vec<A>,
    vector_columns: &PgvectorColumns,
) -> Result<Option<BulkRows>>
where
    A: ActiveModelTrait,
{
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| first.get(*c).is_set())
        .collect();
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let names: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
    let as_vector: Vec<bool> = names
        .iter()
        .map(|name| vector_columns.contains(&(table.clone(), name.to_string())))
        .collect();
    let mut values = rows.into_iter().map(|mut row| {
        columns
            .iter()
            .zip(&as_vector)
            .map(|(c, as_vector)| {
                let value = row
                    .take(*c)
                    .into_value()
                    .unwrap_or(sea_orm::Value::String(None));
                if *as_vector {
                    memory::pgvector_text(value)
                } else {
                    value
                }
            })
            .collect()
    });
    backend.encode_bulk(&table, &names, &mut values).map(Some)
}

/// Writes rows encoded by [`encode`] (none for `None`).
async fn load(db: &Db, rows: Option<BulkRows>) -> Result<()> {
    match rows {
        Some(rows) => db.backend().load_bulk(db, rows).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn legacy_aliases_cycle_through_the_aliases_and_blanks() {
        let seen: Vec<&str> = (0..7).map(legacy_alias).collect();
        assert_eq!(seen, ["io:", "I/O", "ethr", "default", "", "  ", "io:"]);
    }

    #[test]
    fn mix_holds_each_fraction() {
        let mut rng = SmallRng::seed_from_u64(7);
        for n in [1_000u64, 100_000] {
            let mix = Mix::new(&[0.013, 0.05, 0.3], &mut rng);
            let mut counts = [0u64; 3];
            for i in 0..n {
                if let Some(k) = mix.pick(i) {
                    counts[k] += 1;
                }
            }
            for (count, fraction) in counts.iter().zip([0.013, 0.05, 0.3]) {
                assert!(
                    (*count as f64 / n as f64 - fraction).abs() < 0.002,
                    "{n}: {counts:?}"
                );
            }
        }
    }
}
