//! The values the snapshots are taken of: a seeded demo-sized dataset's summaries,
//! fixed so that nothing in a snapshot depends on a database or the clock.

use entity::backfill_settings;

use crate::anomalies::ListedAnomaly;
use crate::backend::Key;
use crate::engine::{Checkpoint, Counters, RangeState, RangeTally, UnitReport};
use crate::jobs::features::FeaturesSummary;
use crate::jobs::project_id::{ProjectIdSummary, TableSummary};
use crate::jobs::run::RunEnd;
use crate::runs::{RunView, UnitView};
use crate::seed::SeedSummary;
use crate::validate::{Coverage, CustomerCoverage, TableState, TableValidation, ValidationReport};

pub(super) fn unit(name: &str, counters: Counters) -> UnitReport {
    UnitReport {
        unit: name.into(),
        processed_here: counters.processed,
        counters,
        first_tenth_batch_ms: Some(4.25),
        last_tenth_batch_ms: Some(4.5),
        batch_sizes: None,
        ranges: None,
    }
}

pub(super) fn seed() -> SeedSummary {
    SeedSummary {
        seed: 7,
        tests: 2000,
        bugs: 6000,
        memory_rows_per_table: 300,
    }
}

pub(super) fn coverage() -> Coverage {
    Coverage {
        test_coverage_rate: Some(0.995),
        bug_attribution_rate: Some(0.9383),
        customer_id_coverage_rate: Some(1.0),
        threshold: 0.95,
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

/// How run `run_id` ended: done, or stopped between batches; journaled unless a dry
/// run.
pub(super) fn end(command: &str, run_id: i64, dry_run: bool, stopped: bool) -> RunEnd {
    let run = (!dry_run).then_some(run_id);
    RunEnd {
        run_id: run,
        dry_run,
        status: if stopped { "interrupted" } else { "done" },
        resume: run
            .filter(|_| stopped)
            .map(|id| format!("backfill {command} --resume --run {id}")),
        undo: run.map(|id| format!("backfill {command} --rollback --run {id}")),
    }
}

pub(super) fn features(dry_run: bool) -> FeaturesSummary {
    FeaturesSummary {
        end: end("backfill-features", 3, dry_run, false),
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
        passed: (!dry_run).then_some(false),
    }
}

pub(super) fn walked(processed: u64, updated: u64, normalized: u64, rejected: u64) -> Counters {
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
pub(super) fn project_id(dry_run: bool) -> ProjectIdSummary {
    let table = |table, counters, null_count| TableSummary {
        table,
        walk: Some(unit(table, counters)),
        state: Some(TableState {
            null_count,
            constraint_validated: null_count == 0,
        }),
    };
    ProjectIdSummary {
        end: Some(end("backfill-project-id", 12, dry_run, false)),
        too_many_errors: false,
        tables: vec![
            table("l2_insights", walked(300, 105, 15, 0), 0),
            table("nodes", walked(300, 96, 12, 0), 0),
            table("working_memory", walked(300, 88, 14, 1), 1),
        ],
        passed: (!dry_run).then_some(false),
    }
}

pub(super) fn validation() -> ValidationReport {
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

pub(super) fn listed() -> Vec<ListedAnomaly> {
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

/// Run 12, cut in ranges, one of its tables held.
pub(super) fn run_list() -> Vec<RunView> {
    let at = |text| chrono::DateTime::parse_from_rfc3339(text).expect("a timestamp");
    vec![RunView {
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
            // A shard of a table Citus distributes by its key, walked on its own.
            RangeState {
                id: 33,
                unit: "working_memory".into(),
                after: None,
                upto: None,
                done: false,
                worker: Some("db-runner:4242/2".into()),
                checkpoint: Checkpoint {
                    after: Some(Key::Int(40_017)),
                    shard: Some(102_008),
                    counters: Counters {
                        processed: 2_500,
                        ..Counters::default()
                    },
                    ..Checkpoint::default()
                },
            },
        ]),
        changes: Some(setting_changes()),
    }]
}

/// Two changes of run 12's settings, as `runs set` records them.
pub(super) fn setting_changes() -> Vec<backfill_settings::Model> {
    let at = |text| chrono::DateTime::parse_from_rfc3339(text).expect("a timestamp");
    vec![
        backfill_settings::Model {
            id: 1,
            run_id: 12,
            setting: "batch-size".into(),
            old_value: Some("5000".into()),
            new_value: "2500".into(),
            changed_by: "ann@ops-laptop".into(),
            changed_at: at("2026-12-03T08:10:00+00:00"),
        },
        backfill_settings::Model {
            id: 2,
            run_id: 12,
            setting: "window".into(),
            old_value: Some("off".into()),
            new_value: "22:00-06:00".into(),
            changed_by: "ann@ops-laptop".into(),
            changed_at: at("2026-12-03T08:10:00+00:00"),
        },
    ]
}
