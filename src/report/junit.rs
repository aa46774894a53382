//! JUnit XML for the checks a CI pipeline runs (`validate`, `migrate check`): one test
//! case per check, its figures in the message, a `<failure>` when it fails. GitHub
//! and GitLab show such a file as a test report.

use std::io::{self, Write};

use crate::migrate::MigrateReport;
use crate::validate::ValidationReport;

/// One check: its name, what it found, and whether it passed.
struct Case {
    name: String,
    message: String,
    passed: bool,
}

impl Case {
    fn new(name: impl Into<String>, message: impl Into<String>, passed: bool) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            passed,
        }
    }
}

pub(super) fn validate(out: &mut dyn Write, r: &ValidationReport) -> io::Result<()> {
    let c = &r.coverage;
    let rate = |name: &str, rate: Option<f64>, detail: String| {
        let passed = rate.is_none_or(|rate| rate >= c.threshold);
        let shown = rate.map_or_else(|| "n/a".to_string(), |rate| format!("{:.2}%", rate * 100.0));
        let message = format!("{shown} ({detail}); threshold {:.2}%", c.threshold * 100.0);
        Case::new(name, message, passed)
    };
    let mut cases = vec![
        rate(
            "test_coverage_rate",
            c.test_coverage_rate,
            format!(
                "{} of {} tests have a feature; {} list none in their payload",
                c.tests_with_features, c.tests, c.tests_listing_no_feature
            ),
        ),
        rate(
            "bug_attribution_rate",
            c.bug_attribution_rate,
            format!(
                "{} of {} bugs attributed; {} name no test feature",
                c.bugs_attributed, c.bugs, c.bugs_naming_no_feature
            ),
        ),
        rate(
            "customer_id_coverage_rate",
            c.customer_id_coverage_rate,
            format!(
                "{} of {} test_features have a customer",
                c.test_features_with_customer, c.test_features
            ),
        ),
    ];
    for customer in r.by_customer.iter().flatten() {
        let show =
            |rate: Option<f64>| rate.map_or_else(|| "n/a".into(), |r| format!("{:.2}%", r * 100.0));
        cases.push(Case::new(
            format!("customer {}", customer.customer_id),
            format!(
                "tests {}, bugs {}",
                show(customer.test_coverage_rate),
                show(customer.bug_attribution_rate)
            ),
            !customer.below_threshold,
        ));
    }
    for table in &r.tables {
        let check = match table.state.constraint_validated {
            true => "validated",
            false => "not validated",
        };
        cases.push(Case::new(
            format!("project_id of {}", table.table),
            format!(
                "{} rows with a NULL project_id; check {check}",
                table.state.null_count
            ),
            table.state.null_count == 0,
        ));
    }
    suite(out, "backfill validate", &cases)
}

pub(super) fn migrate(out: &mut dyn Write, r: &MigrateReport) -> io::Result<()> {
    let mut cases: Vec<Case> = r
        .scratch_steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            Case::new(
                format!(
                    "scratch database step {}: {}",
                    i + 1,
                    step.split(':').next().unwrap_or(step)
                ),
                step.clone(),
                step.ends_with(": ok"),
            )
        })
        .collect();
    cases.push(Case::new(
        "no pending migrations",
        match r.pending.as_slice() {
            [] => format!("{} applied", r.applied.len()),
            pending => format!("pending: {}", pending.join(", ")),
        },
        r.pending.is_empty(),
    ));
    cases.push(Case::new(
        "schema matches the entities",
        match r.drift.as_slice() {
            [] => "no drift".to_string(),
            drift => drift.join("; "),
        },
        r.drift.is_empty(),
    ));
    suite(out, "backfill migrate check", &cases)
}

/// One suite of `cases` as a JUnit document.
fn suite(out: &mut dyn Write, name: &str, cases: &[Case]) -> io::Result<()> {
    let failures = cases.iter().filter(|case| !case.passed).count();
    let (name, count) = (escape(name), cases.len());
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="{name}" tests="{count}" failures="{failures}">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{name}" tests="{count}" failures="{failures}">"#
    )?;
    for case in cases {
        let (case_name, message) = (escape(&case.name), escape(&case.message));
        write!(
            out,
            r#"    <testcase classname="{name}" name="{case_name}">"#
        )?;
        if case.passed {
            write!(out, "<system-out>{message}</system-out>")?;
        } else {
            write!(out, r#"<failure message="{message}">{message}</failure>"#)?;
        }
        writeln!(out, "</testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// Text as XML takes it in an attribute or an element.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => escaped.push(c),
        }
    }
    escaped
}
