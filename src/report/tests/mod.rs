//! Every summary in both formats, from fixed values (elapsed times are passed in, so
//! nothing in a snapshot depends on the clock), snapshot-tested with `insta`.

use std::time::Duration;

mod fixtures;

use super::*;
use crate::backend::Distributed;
use crate::engine::Counters;
use fixtures::*;

/// What `report` writes in text, and in JSON (checked to be exactly one line holding
/// one JSON value, then pretty-printed so the snapshot reads well).
fn both(report: impl Fn(&mut Reporter<Vec<u8>>) -> io::Result<()>) -> (String, String) {
    let json = written(Format::Json, &report);
    assert_eq!(json.lines().count(), 1, "one line: {json}");
    assert_eq!(json::duplicate_keys(&json), Ok(Vec::new()), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json).expect("one JSON value");
    assert!(value.is_object(), "one object: {json}");
    assert_eq!(value["schema_version"], SCHEMA_VERSION, "{json}");
    let pretty = serde_json::to_string_pretty(&value).expect("JSON");
    (written(Format::Text, &report), pretty)
}

/// What `report` writes in `format`.
fn written(format: Format, report: &impl Fn(&mut Reporter<Vec<u8>>) -> io::Result<()>) -> String {
    let mut reporter = Reporter::new(format, Vec::new());
    report(&mut reporter).expect("a Vec takes every write");
    String::from_utf8(reporter.into_inner()).expect("UTF-8")
}

fn snapshot(name: &str, report: impl Fn(&mut Reporter<Vec<u8>>) -> io::Result<()>) {
    let (text, json) = both(report);
    insta::assert_snapshot!(format!("{name}_text"), text);
    insta::assert_snapshot!(format!("{name}_json"), json);
}

#[test]
fn migrate() {
    let report = MigrateReport {
        action: "check".into(),
        applied: vec!["m20250101_000001_create_testio_tables".into()],
        pending: vec!["m20250101_000004_create_bookkeeping_tables".into()],
        scratch_steps: vec!["up: ok".into(), "down: ok".into(), "up: ok".into()],
        drift: vec!["nodes.label: text in the entity, varchar in the database".into()],
        distributed: Vec::new(),
        data_dropped: false,
        passed: false,
    };
    snapshot("migrate", |r| r.migrate(&report));
    let distributed = MigrateReport {
        action: "up".into(),
        applied: vec!["m20260101_000001_create_testio_tables".into()],
        distributed: vec![
            Distributed {
                table: "nodes".into(),
                column: "id".into(),
                dropped_keys: vec!["fk_nodes_vector_id".into(), "uq_nodes_label_name".into()],
            },
            Distributed {
                table: "working_memory".into(),
                column: "id".into(),
                dropped_keys: Vec::new(),
            },
        ],
        passed: true,
        ..MigrateReport::default()
    };
    snapshot("migrate_distributed", |r| r.migrate(&distributed));
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
fn stopped_runs_say_how_to_go_on() {
    let elapsed = Duration::from_millis(900);
    let features = FeaturesSummary {
        end: end("backfill-features", 3, false, true),
        validation: None,
        passed: None,
        ..features(false)
    };
    snapshot("features_interrupted", |r| r.features(&features, elapsed));
    let mut project_id = project_id(false);
    project_id.end = Some(end("backfill-project-id", 12, false, true));
    project_id.passed = None;
    for table in &mut project_id.tables {
        table.state = None;
    }
    snapshot("project_id_interrupted", |r| {
        r.project_id(&project_id, elapsed)
    });
}

#[test]
fn junit_for_ci() {
    let check = MigrateReport {
        action: "check".into(),
        applied: vec!["m20260101_000001_create_testio_tables".into()],
        pending: Vec::new(),
        scratch_steps: vec!["up: ok".into(), "down: ok".into(), "up: ok".into()],
        drift: vec!["this database: `nodes.label` is missing".into()],
        distributed: Vec::new(),
        data_dropped: false,
        passed: false,
    };
    insta::assert_snapshot!(
        "migrate_junit",
        written(Format::Junit, &|r: &mut Reporter<Vec<u8>>| r
            .migrate(&check))
    );
    insta::assert_snapshot!(
        "validate_junit",
        written(Format::Junit, &|r: &mut Reporter<Vec<u8>>| r
            .validate(&validation()))
    );
}

#[test]
fn a_failure_is_one_json_object() {
    let failure = |r: &mut Reporter<Vec<u8>>| {
        r.failure(
            "cannot reach `postgres://app:***@db/prod`: connection refused",
            75,
        )
    };
    let json = written(Format::Json, &failure);
    assert_eq!(json::duplicate_keys(&json), Ok(Vec::new()));
    let value: serde_json::Value = serde_json::from_str(&json).expect("one JSON value");
    assert_eq!(
        value,
        serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "error": "cannot reach `postgres://app:***@db/prod`: connection refused",
            "exit_code": 75
        })
    );
    assert_eq!(
        written(Format::Text, &failure),
        "",
        "the text goes to stderr"
    );
}

#[test]
fn rollback() {
    use crate::jobs::undo::{GuardRestore, TableRestore};
    let mut summary = RollbackSummary::new(12, false);
    summary.add(TableRestore {
        restored: 199,
        left_alone: 2,
        guard: Some(GuardRestore {
            found: "NOT NULL",
            put_back: "NOT VALID",
        }),
        ..TableRestore::new("l2_insights")
    });
    summary.add(TableRestore {
        restored: 88,
        guard: Some(GuardRestore {
            found: "enforced",
            put_back: "NOT VALID",
        }),
        ..TableRestore::new("nodes")
    });
    snapshot("rollback", |r| r.rollback(&summary));
    summary.dry_run = true;
    snapshot("rollback_dry_run", |r| r.rollback(&summary));
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
    let listed = run_list();
    snapshot("runs", |r| r.runs(&listed));
    snapshot("runs_none", |r| r.runs(&[]));
    snapshot("runs_paused", |r| r.controlled(12, RunStatus::Paused));
    snapshot("runs_abandoned", |r| r.controlled(12, RunStatus::Abandoned));
    snapshot("runs_set", |r| r.settings_changed(12, &setting_changes()));
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
