//! Every summary in both formats, from fixed values (elapsed times are passed in, so
//! nothing in a snapshot depends on the clock), snapshot-tested with `insta`.

use std::time::Duration;

use super::*;
use crate::engine::{Counters, UnitReport};
use crate::jobs::project_id::TableSummary;
use crate::validate::TableState;
use crate::validate::{Coverage, CustomerCoverage, TableValidation};

/// What `report` writes in text, and in JSON (checked to be exactly one line holding
/// one JSON value, then pretty-printed so the snapshot reads well).
fn both(report: impl Fn(&mut Reporter<Vec<u8>>) -> io::Result<()>) -> (String, String) {
    let written = |format| {
        let mut reporter = Reporter::new(format, Vec::new());
        report(&mut reporter).expect("a Vec takes every write");
        String::from_utf8(reporter.into_inner()).expect("UTF-8")
    };
    let json = written(Format::Json);
    assert_eq!(json.lines().count(), 1, "one line: {json}");
    let value: serde_json::Value = serde_json::from_str(&json).expect("one JSON value");
    let pretty = serde_json::to_string_pretty(&value).expect("JSON");
    (written(Format::Text), pretty)
}

fn snapshot(name: &str, report: impl Fn(&mut Reporter<Vec<u8>>) -> io::Result<()>) {
    let (text, json) = both(report);
    insta::assert_snapshot!(format!("{name}_text"), text);
    insta::assert_snapshot!(format!("{name}_json"), json);
}

fn unit(name: &str, counters: Counters) -> UnitReport {
    UnitReport {
        unit: name.into(),
        counters,
        first_tenth_batch_ms: Some(4.25),
        last_tenth_batch_ms: Some(4.5),
        batch_sizes: None,
        ranges: None,
    }
}

fn seed() -> SeedSummary {
    SeedSummary {
        seed: 7,
        tests: 2000,
        bugs: 6000,
        memory_rows_per_table: 300,
    }
}

fn coverage() -> Coverage {
    Coverage {
        test_coverage_rate: Some(0.995),
        bug_attribution_rate: Some(0.9383),
        customer_id_coverage_rate: Some(1.0),
        threshold: 0.95,
        passed: false,
        tests: 2000,
        tests_with_features: 1990,
        tests_listing_no_feature: 0,
        bugs: 6000,
        bugs_attributed: 5630,
        bugs_naming_no_feature: 60,
        test_features: 5970,
        test_features_with_customer: 5970,
    }
}

fn features(dry_run: bool) -> FeaturesSummary {
    FeaturesSummary {
        run_id: (!dry_run).then_some(3),
        dry_run,
        features: unit(
            "test_features",
            Counters {
                processed: 2000,
                inserted: 5970,
                skipped: 10,
                errors: 10,
                anomalies: 30,
                batches: 4,
                ..Counters::default()
            },
        ),
        bugs: unit(
            "bugs",
            Counters {
                processed: 6000,
                updated: 5630,
                unchanged: 0,
                skipped: 60,
                anomalies: 60,
                batches: 12,
                ..Counters::default()
            },
        ),
        validation: (!dry_run).then(coverage),
        too_many_errors: false,
    }
}

fn walked(processed: u64, updated: u64, normalized: u64, rejected: u64) -> Counters {
    Counters {
        processed,
        updated,
        normalized,
        rejected,
        errors: rejected,
        anomalies: normalized + rejected,
        batches: 3,
        ..Counters::default()
    }
}

/// Three tables, one of which keeps the NULL of a row the database rejected.
fn project_id(dry_run: bool) -> ProjectIdSummary {
    let table = |table, counters, null_count| TableSummary {
        table,
        walk: Some(unit(table, counters)),
        state: Some(TableState {
            null_count,
            constraint_validated: null_count == 0,
        }),
    };
    ProjectIdSummary {
        run_id: (!dry_run).then_some(12),
        dry_run,
        tables: vec![
            table("l2_insights", walked(300, 105, 15, 0), 0),
            table("nodes", walked(300, 96, 12, 0), 0),
            table("working_memory", walked(300, 88, 14, 1), 1),
        ],
        passed: dry_run,
    }
}

fn validation() -> ValidationReport {
    let state = |null_count| TableState {
        null_count,
        constraint_validated: null_count == 0,
    };
    ValidationReport {
        coverage: coverage(),
        tables: vec![
            TableValidation {
                table: "l2_insights",
                state: state(0),
            },
            TableValidation {
                table: "working_memory",
                state: state(1),
            },
        ],
        by_customer: Some(vec![
            CustomerCoverage {
                customer_id: 1,
                test_coverage_rate: Some(1.0),
                bug_attribution_rate: Some(0.97),
                below_threshold: false,
            },
            CustomerCoverage {
                customer_id: 2,
                test_coverage_rate: Some(0.9),
                bug_attribution_rate: None,
                below_threshold: true,
            },
        ]),
        passed: false,
    }
}

fn listed() -> Vec<ListedAnomaly> {
    vec![
        ListedAnomaly {
            id: 18,
            table: "working_memory".into(),
            row_id: Some("41".into()),
            kind: "row_rejected".into(),
            issue: "row 41 is under legal hold and may not change".into(),
            resolved: false,
            run_id: Some(12),
            last_seen_at: "2026-12-02T15:00:00+00:00".into(),
        },
        ListedAnomaly {
            id: 17,
            table: "tests".into(),
            row_id: None,
            kind: "invalid_json".into(),
            issue: "data is not JSON: expected value at line 1 column 1".into(),
            resolved: true,
            run_id: None,
            last_seen_at: "2026-12-02T14:59:00+00:00".into(),
        },
    ]
}

#[test]
fn migrate() {
    let report = MigrateReport {
        action: "check".into(),
        applied: vec!["m20250101_000001_create_testio_tables".into()],
        pending: vec!["m20250101_000004_create_bookkeeping_tables".into()],
        scratch_steps: vec!["up: ok".into(), "down: ok".into(), "up: ok".into()],
        drift: vec!["nodes.label: text in the entity, varchar in the database".into()],
        data_dropped: false,
        passed: false,
    };
    snapshot("migrate", |r| r.migrate(&report));
    let fresh = MigrateReport {
        action: "fresh".into(),
        data_dropped: true,
        passed: true,
        ..MigrateReport::default()
    };
    snapshot("migrate_fresh", |r| r.migrate(&fresh));
}

#[test]
fn seed_summary() {
    snapshot("seed", |r| r.seed(&seed(), Duration::from_millis(2_480)));
}

#[test]
fn features_summary() {
    let elapsed = Duration::from_millis(1_310);
    snapshot("features", |r| r.features(&features(false), elapsed));
    snapshot("features_dry_run", |r| r.features(&features(true), elapsed));
}

#[test]
fn project_id_summary() {
    let elapsed = Duration::from_millis(3_200);
    snapshot("project_id", |r| r.project_id(&project_id(false), elapsed));
    snapshot("project_id_dry_run", |r| {
        r.project_id(&project_id(true), elapsed)
    });
    let (dry_text, _) = both(|r| r.project_id(&project_id(true), elapsed));
    assert!(!dry_text.contains("FAILED"), "{dry_text}");
}

#[test]
fn rollback() {
    let summary = RollbackSummary {
        run_id: 12,
        restored: 287,
        left_alone: 2,
    };
    snapshot("rollback", |r| r.rollback(&summary));
}

#[test]
fn validate() {
    snapshot("validate", |r| r.validate(&validation()));
}

#[test]
fn anomalies() {
    snapshot("anomalies", |r| r.anomalies(&listed()));
    snapshot("anomalies_none", |r| r.anomalies(&[]));
}

#[test]
fn resolved() {
    snapshot("resolved", |r| r.resolved(2));
}

#[test]
fn demo() {
    let summary = DemoSummary {
        database: "demo.db".into(),
        seed: seed(),
        features: features(false),
        project_id: project_id(false),
        validation: validation(),
        anomalies_by_kind: vec![
            ("cross_tenant".into(), 30),
            ("legacy_alias".into(), 41),
            ("row_rejected".into(), 1),
        ],
        held_row: Some(41),
    };
    snapshot("demo", |r| r.demo(&summary, Duration::from_millis(4_060)));
}

#[test]
fn runs() {
    use crate::engine::{Checkpoint, RangeState, RangeTally};
    use crate::runs::{RunView, UnitView};
    let at = |text| chrono::DateTime::parse_from_rfc3339(text).expect("a timestamp");
    let listed = vec![RunView {
        id: 12,
        command: "backfill-project-id".into(),
        status: "throttled".into(),
        started_at: at("2026-12-03T08:00:00+00:00"),
        finished_at: None,
        worker: "4242@db-runner".into(),
        units: vec![
            UnitView {
                unit: "nodes".into(),
                done: true,
                rows: 120_000,
                estimate: Some(120_000),
                rows_per_second: Some(40_000.0),
                eta_seconds: Some(0),
                batch_size: Some(5000),
                batches: 24,
                held: None,
                ranges: RangeTally {
                    done: 8,
                    in_progress: 0,
                    left: 0,
                },
                workers: Vec::new(),
            },
            UnitView {
                unit: "edges".into(),
                done: false,
                rows: 30_000,
                estimate: Some(90_000),
                rows_per_second: Some(20_000.0),
                eta_seconds: Some(3),
                batch_size: Some(2500),
                batches: 9,
                held: Some("lock waits: 1 other session(s) wait on locks in this table".into()),
                ranges: RangeTally {
                    done: 1,
                    in_progress: 1,
                    left: 0,
                },
                workers: vec!["db-runner:4242/1".into()],
            },
        ],
        ranges: Some(vec![
            RangeState {
                id: 31,
                unit: "edges".into(),
                after: None,
                upto: Some("7fffffff-ffff-ffff-ffff-fffffffffffe".into()),
                done: true,
                worker: None,
                checkpoint: Checkpoint {
                    counters: Counters {
                        processed: 25_000,
                        ..Counters::default()
                    },
                    ..Checkpoint::default()
                },
            },
            RangeState {
                id: 32,
                unit: "edges".into(),
                after: Some("7fffffff-ffff-ffff-ffff-fffffffffffe".into()),
                upto: None,
                done: false,
                worker: Some("db-runner:4242/1".into()),
                checkpoint: Checkpoint {
                    counters: Counters {
                        processed: 5_000,
                        ..Counters::default()
                    },
                    ..Checkpoint::default()
                },
            },
        ]),
    }];
    snapshot("runs", |r| r.runs(&listed));
    snapshot("runs_none", |r| r.runs(&[]));
    snapshot("runs_paused", |r| r.controlled(12, RunStatus::Paused));
}

#[test]
fn worked() {
    use crate::engine::RangeTally;
    let mut features = unit(
        "test_features",
        Counters {
            processed: 2000,
            inserted: 5883,
            batches: 4,
            ..Counters::default()
        },
    );
    features.ranges = Some(RangeTally {
        done: 3,
        in_progress: 0,
        left: 0,
    });
    snapshot("worked", |r| r.worked(12, std::slice::from_ref(&features)));
    snapshot("worked_nothing_left", |r| r.worked(12, &[]));
}

#[test]
fn adapted_batch_sizes_are_reported() {
    let mut report = unit("test_features", Counters::default());
    report.batch_sizes = Some((10, 4800));
    let (text, json) = both(|r| {
        r.features(
            &FeaturesSummary {
                bugs: report.clone(),
                features: report.clone(),
                ..features(false)
            },
            Duration::from_secs(1),
        )
    });
    assert!(
        text.contains("test_features: 0 batches of 10 to 4800 rows (--batch-time)"),
        "{text}"
    );
    assert!(json.contains("\"batch_sizes\""), "{json}");
}

#[test]
fn throughput_is_whole_rows_per_second() {
    let t = Throughput::new(61_204, Duration::from_secs(1));
    assert_eq!((t.elapsed_seconds, t.rows_per_second), (1.0, 61_204));
    let t = Throughput::new(10, Duration::from_millis(33_337));
    assert_eq!((t.elapsed_seconds, t.rows_per_second), (33.337, 0));
    assert_eq!(Throughput::new(5, Duration::ZERO).rows_per_second, 0);
    let (text, _) = both(|r| r.seed(&seed(), Duration::from_micros(1_234_567)));
    assert!(text.ends_with("done in 1.2 s, 9,153 rows/s\n"), "{text}");
}
