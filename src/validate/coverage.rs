//! The coverage rates of the analytics tables (SPEC §5.6), with the diagnostics that
//! tell missing data from a missed backfill, overall and per customer: aggregate
//! queries only.

use anyhow::{Context, Result};
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use serde::Serialize;

use crate::backend::Db;

/// The three rates of SPEC §5.6 (`None` for an empty denominator) and the diagnostics
/// that tell missing data from a missed backfill.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub test_coverage_rate: Option<f64>,
    pub bug_attribution_rate: Option<f64>,
    pub customer_id_coverage_rate: Option<f64>,
    pub threshold: f64,
    pub tests: i64,
    pub tests_with_features: i64,
    /// Tests without features whose payload lists none: nothing to backfill there.
    pub tests_listing_no_feature: i64,
    pub bugs: i64,
    pub bugs_attributed: i64,
    /// Bugs without attribution whose payload names no test feature.
    pub bugs_naming_no_feature: i64,
    pub test_features: i64,
    pub test_features_with_customer: i64,
}

/// The rates of one customer.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerCoverage {
    pub customer_id: i64,
    pub test_coverage_rate: Option<f64>,
    pub bug_attribution_rate: Option<f64>,
    pub below_threshold: bool,
}

impl Coverage {
    /// Every rate at or above the threshold (an empty denominator passes).
    pub fn passes(&self) -> bool {
        meets(self.test_coverage_rate, self.threshold)
            && meets(self.bug_attribution_rate, self.threshold)
            && meets(self.customer_id_coverage_rate, self.threshold)
    }
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn meets(rate: Option<f64>, threshold: f64) -> bool {
    rate.is_none_or(|r| r >= threshold)
}

async fn one_row(db: &impl ConnectionTrait, sql: String) -> Result<QueryResult> {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.clone(),
    ))
    .await
    .with_context(|| format!("validation query failed: {sql}"))?
    .context("validation query returned no row")
}

/// The three rates and their diagnostics.
pub async fn coverage(db: &Db, threshold: f64) -> Result<Coverage> {
    let backend = db.backend();
    let tests = one_row(
        db,
        format!(
            "SELECT COUNT(*), \
             COUNT(CASE WHEN EXISTS (SELECT 1 FROM test_features f WHERE f.test_id = t.id) THEN 1 END), \
             COUNT(CASE WHEN NOT EXISTS (SELECT 1 FROM test_features f WHERE f.test_id = t.id) AND NOT {} THEN 1 END) \
             FROM tests t",
            backend.lists_features()
        ),
    )
    .await?;
    let bugs = one_row(
        db,
        format!(
            "SELECT COUNT(*), COUNT(b.test_feature_id), \
             COUNT(CASE WHEN b.test_feature_id IS NULL AND NOT {} THEN 1 END) FROM bugs b",
            backend.names_test_feature()
        ),
    )
    .await?;
    let features = one_row(
        db,
        "SELECT COUNT(*), COUNT(customer_id) FROM test_features".into(),
    )
    .await?;
    let get = |row: &QueryResult, i| row.try_get_by_index::<i64>(i);
    let coverage = Coverage {
        test_coverage_rate: rate(get(&tests, 1)?, get(&tests, 0)?),
        bug_attribution_rate: rate(get(&bugs, 1)?, get(&bugs, 0)?),
        customer_id_coverage_rate: rate(get(&features, 1)?, get(&features, 0)?),
        threshold,
        tests: get(&tests, 0)?,
        tests_with_features: get(&tests, 1)?,
        tests_listing_no_feature: get(&tests, 2)?,
        bugs: get(&bugs, 0)?,
        bugs_attributed: get(&bugs, 1)?,
        bugs_naming_no_feature: get(&bugs, 2)?,
        test_features: get(&features, 0)?,
        test_features_with_customer: get(&features, 1)?,
    };
    Ok(coverage)
}

/// The rates per customer, in two GROUP BY queries.
pub async fn by_customer(db: &Db, threshold: f64) -> Result<Vec<CustomerCoverage>> {
    let backend = db.get_database_backend();
    let sql = "SELECT c.customer_id, \
         (SELECT COUNT(*) FROM tests t WHERE t.customer_id = c.customer_id), \
         (SELECT COUNT(*) FROM tests t WHERE t.customer_id = c.customer_id \
            AND EXISTS (SELECT 1 FROM test_features f WHERE f.test_id = t.id)), \
         (SELECT COUNT(*) FROM bugs b WHERE b.customer_id = c.customer_id), \
         (SELECT COUNT(b.test_feature_id) FROM bugs b WHERE b.customer_id = c.customer_id) \
         FROM (SELECT customer_id FROM tests UNION SELECT customer_id FROM bugs) c \
         ORDER BY c.customer_id";
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .context("per-customer validation query failed")?;
    rows.iter()
        .map(|row| {
            let get = |i| row.try_get_by_index::<i64>(i);
            let tests_rate = rate(get(2)?, get(1)?);
            let bugs_rate = rate(get(4)?, get(3)?);
            Ok(CustomerCoverage {
                customer_id: get(0)?,
                test_coverage_rate: tests_rate,
                bug_attribution_rate: bugs_rate,
                below_threshold: !meets(tests_rate, threshold) || !meets(bugs_rate, threshold),
            })
        })
        .collect()
}
