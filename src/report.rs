//! Summaries on stdout: one JSON object with `--format json`, otherwise a few readable
//! lines. One method per command; the work modules only return data.

use std::fmt::Write as _;

use serde::Serialize;

use crate::anomalies::ListedAnomaly;
use crate::engine::UnitReport;
use crate::error::UsageError;
use crate::jobs::features::FeaturesSummary;
use crate::jobs::project_id::{ProjectIdSummary, RollbackSummary};
use crate::migrate::MigrateReport;
use crate::seed::SeedSummary;
use crate::validate::{Coverage, ValidationReport};

/// How summaries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UsageError::new(format!(
                "`{text}` is not a summary format (text or json)"
            ))),
        }
    }
}

pub struct Reporter {
    format: Format,
}

impl Reporter {
    pub fn new(format: Format) -> Self {
        Self { format }
    }

    fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) {
        match self.format {
            Format::Json => match serde_json::to_string(value) {
                Ok(json) => println!("{json}"),
                Err(err) => eprintln!("backfill: could not write the JSON summary: {err}"),
            },
            Format::Text => print!("{}", text(value)),
        }
    }

    pub fn migrate(&self, report: &MigrateReport) {
        self.emit(report, |r| {
            let mut out = String::new();
            if r.data_dropped {
                let _ = writeln!(
                    out,
                    "migrate {}: every table was dropped and its data is gone",
                    r.action
                );
            }
            for step in &r.scratch_steps {
                let _ = writeln!(out, "scratch database: {step}");
            }
            for name in &r.applied {
                let _ = writeln!(out, "applied  {name}");
            }
            for name in &r.pending {
                let _ = writeln!(out, "pending  {name}");
            }
            for drift in &r.drift {
                let _ = writeln!(out, "DRIFT    {drift}");
            }
            if r.action == "check" {
                let verdict = if r.passed {
                    "migrate check passed"
                } else {
                    "migrate check FAILED"
                };
                let _ = writeln!(out, "{verdict}");
            }
            out
        });
    }

    pub fn seed(&self, summary: &SeedSummary) {
        self.emit(summary, |s| {
            format!(
                "seeded {} tests, {} bugs and {} rows in each of the eleven memory tables (seed {}) in {:.1}s\n",
                s.tests, s.bugs, s.memory_rows_per_table, s.seed, s.seconds
            )
        });
    }

    pub fn features(&self, summary: &FeaturesSummary) {
        self.emit(summary, |s| {
            let mut out = String::new();
            if s.dry_run {
                out.push_str("DRY RUN: nothing was written; a real run would do this:\n");
            }
            out.push_str(&unit_line("test_features", &s.features));
            out.push_str(&unit_line("bugs", &s.bugs));
            if s.too_many_errors {
                out.push_str("FAILED: more than 5% of processed records errored (see `backfill anomalies`)\n");
            }
            if let Some(coverage) = &s.validation {
                out.push_str(&coverage_lines(coverage));
            }
            if let Some(run) = s.run_id {
                let _ = writeln!(out, "run {run}");
            }
            out
        });
    }

    pub fn project_id(&self, summary: &ProjectIdSummary) {
        self.emit(summary, |s| {
            let mut out = String::new();
            if s.dry_run {
                out.push_str("DRY RUN: nothing was written; a real run would do this:\n");
            }
            let _ = writeln!(
                out,
                "{:<20} {:>9} {:>9} {:>10} {:>8} {:>7} {:>6}  check",
                "table", "scanned", "set 'io'", "normalized", "rejected", "batches", "NULLs"
            );
            for t in &s.tables {
                let c = t.walk.as_ref().map(|w| w.counters).unwrap_or_default();
                let (nulls, check) = match &t.state {
                    Some(state) => (
                        state.null_count.to_string(),
                        if state.constraint_validated {
                            "validated"
                        } else {
                            "not validated"
                        },
                    ),
                    None => ("-".to_string(), "not checked (--no-validate)"),
                };
                let _ = writeln!(
                    out,
                    "{:<20} {:>9} {:>9} {:>10} {:>8} {:>7} {:>6}  {check}",
                    t.table, c.processed, c.updated, c.normalized, c.rejected, c.batches, nulls,
                );
            }
            for (t, state) in s.tables.iter().filter_map(|t| Some((t, t.state.as_ref()?))) {
                if state.null_count > 0 {
                    let _ = writeln!(
                        out,
                        "FAILED: `{}` still has {} rows with a NULL project_id",
                        t.table, state.null_count
                    );
                }
            }
            if let Some(run) = s.run_id {
                let _ = writeln!(
                    out,
                    "run {run} (undo with: backfill backfill-project-id --rollback --run {run})"
                );
            }
            out
        });
    }

    pub fn rollback(&self, summary: &RollbackSummary) {
        self.emit(summary, |s| {
            format!(
                "run {}: restored {} rows; left {} rows alone because they changed after the run\n",
                s.run_id, s.restored, s.left_alone
            )
        });
    }

    pub fn validate(&self, report: &ValidationReport) {
        self.emit(report, |r| {
            let mut out = coverage_lines(&r.coverage);
            for t in &r.tables {
                let _ = writeln!(
                    out,
                    "{:<20} NULL project_id: {:>8}  check: {}",
                    t.table,
                    t.state.null_count,
                    if t.state.constraint_validated {
                        "validated"
                    } else {
                        "not validated"
                    }
                );
            }
            for c in r.by_customer.iter().flatten().filter(|c| c.below_threshold) {
                let _ = writeln!(
                    out,
                    "customer {} below threshold: tests {}, bugs {}",
                    c.customer_id,
                    percent(c.test_coverage_rate),
                    percent(c.bug_attribution_rate)
                );
            }
            let _ = writeln!(
                out,
                "{}",
                if r.passed {
                    "validation passed"
                } else {
                    "validation FAILED"
                }
            );
            out
        });
    }

    pub fn anomalies(&self, listed: &[ListedAnomaly]) {
        self.emit(&listed, |rows| {
            let mut out = String::new();
            if rows.is_empty() {
                out.push_str("no anomalies\n");
            }
            for a in rows.iter() {
                let _ = writeln!(
                    out,
                    "#{:<6} {:<18} {:<14} row {:<14} {}{}",
                    a.id,
                    a.kind,
                    a.table,
                    a.row_id.as_deref().unwrap_or("-"),
                    a.issue,
                    if a.resolved { " (resolved)" } else { "" }
                );
            }
            out
        });
    }

    pub fn demo(&self, summary: &crate::demo::DemoSummary, account: String) {
        self.emit(summary, |_| account);
    }

    pub fn resolved(&self, count: u64) {
        self.emit(&serde_json::json!({ "resolved": count }), |_| {
            format!("resolved {count} anomalies\n")
        });
    }
}

fn unit_line(name: &str, report: &UnitReport) -> String {
    let c = &report.counters;
    format!(
        "{name:<14} processed {}, inserted {}, updated {}, unchanged {}, skipped {}, errors {}, anomalies {}\n",
        c.processed, c.inserted, c.updated, c.unchanged, c.skipped, c.errors, c.anomalies
    )
}

pub fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

fn coverage_lines(c: &Coverage) -> String {
    let mut out = String::new();
    let line = |out: &mut String, name: &str, rate: Option<f64>, detail: String| {
        let ok = rate.is_none_or(|r| r >= c.threshold);
        let verdict = if ok {
            "ok".to_string()
        } else {
            let short = (c.threshold - rate.unwrap_or(0.0)) * 100.0;
            format!("BELOW {} by {short:.2} points", percent(Some(c.threshold)))
        };
        let _ = writeln!(
            out,
            "{name:<26} {:>8}  {verdict}  ({detail})",
            percent(rate)
        );
    };
    line(
        &mut out,
        "test_coverage_rate",
        c.test_coverage_rate,
        format!(
            "{} of {} tests; {} list no feature in their payload",
            c.tests_with_features, c.tests, c.tests_listing_no_feature
        ),
    );
    line(
        &mut out,
        "bug_attribution_rate",
        c.bug_attribution_rate,
        format!(
            "{} of {} bugs; {} name no test feature",
            c.bugs_attributed, c.bugs, c.bugs_naming_no_feature
        ),
    );
    line(
        &mut out,
        "customer_id_coverage_rate",
        c.customer_id_coverage_rate,
        format!(
            "{} of {} test_features",
            c.test_features_with_customer, c.test_features
        ),
    );
    out
}
