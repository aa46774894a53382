//! `backfill-features`: on the shared engine, phase 1 walks `tests` and upserts the
//! features each payload lists into `test_features`; phase 2 walks `bugs` and sets
//! `test_feature_id` from each bug's payload. Rows that already match are not written,
//! so a second run changes nothing. Tenants never mix: a row or a reference of another
//! customer is an anomaly, never a write.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use entity::{bugs, test_features, tests};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, IntoIden, OnConflict, Query, TableRef, ValueTuple,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryResult, QuerySelect,
};
use serde::Serialize;

use crate::anomalies::AnomalyKind;
use crate::db;
use crate::engine::{
    Batch, BatchJob, BatchPlan, EngineSettings, Key, KeyKind, KeysetWalker, Reads, Split,
    TableWalk, UnitReport, Written,
};
use crate::error::{Interrupted, Outcome};
use crate::payload::{self, BugFeature, PayloadProblem, TestPayload};
use crate::runs::{RunLedger, RunStatus};
use crate::validate::{self, Coverage};

pub const COMMAND: &str = "backfill-features";
const FEATURE_COLUMNS: usize = 11;

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

/// A payload column read as bytes on SQLite, where TEXT may hold bytes that are not
/// UTF-8 (reading it as a string would fail the whole batch); PostgreSQL's text is
/// always UTF-8.
fn payload_column(backend: DatabaseBackend, column: &'static str) -> Expr {
    match backend {
        DatabaseBackend::Sqlite => Expr::col(Alias::new(column)).cast_as(Alias::new("BLOB")),
        _ => Expr::col(Alias::new(column)),
    }
}

fn read_payload(
    backend: DatabaseBackend,
    row: &QueryResult,
    index: usize,
) -> Result<Vec<u8>, DbErr> {
    match backend {
        DatabaseBackend::Sqlite => row.try_get_by_index::<Vec<u8>>(index),
        _ => row
            .try_get_by_index::<String>(index)
            .map(String::into_bytes),
    }
}

/// A `tests` row as phase 1 reads it, its payload already parsed: a batch read ahead is
/// decoded while the database works on the batch before it.
pub struct TestRow {
    id: i64,
    customer_id: i64,
    payload: Result<TestPayload, PayloadProblem>,
}

/// A `test_features` row to insert or rewrite.
pub struct FeatureWrite {
    row: test_features::Model,
    is_new: bool,
}

struct FeatureJob;

impl BatchJob for FeatureJob {
    type Row = TestRow;
    type Write = FeatureWrite;

    fn reads(&self, backend: DatabaseBackend) -> Reads {
        Reads::Rows(vec![
            Expr::col(tests::Column::CustomerId),
            payload_column(backend, "data"),
        ])
    }

    fn decode(&self, row: &QueryResult, backend: DatabaseBackend) -> Result<TestRow, DbErr> {
        Ok(TestRow {
            id: row.try_get_by_index(0)?,
            customer_id: row.try_get_by_index(1)?,
            payload: payload::parse_test_payload(&read_payload(backend, row, 2)?),
        })
    }

    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        batch: Batch<TestRow>,
        plan: &mut BatchPlan,
    ) -> Result<Vec<FeatureWrite>, DbErr> {
        // First listing wins: tests come in id order, features in payload order.
        let mut wanted: BTreeMap<i64, test_features::Model> = BTreeMap::new();
        let mut patches: HashMap<i64, Flags> = HashMap::new();
        for (_, test) in batch.rows {
            let test_id = test.id;
            for (flags, model) in features_of(test, plan) {
                let id = model.id;
                if let Some(first) = wanted.get(&id) {
                    plan.counters.skipped += 1;
                    let (kind, whose) = if first.customer_id == model.customer_id {
                        (AnomalyKind::DuplicateId, String::new())
                    } else {
                        (
                            AnomalyKind::CrossTenant,
                            format!(" of customer {}", model.customer_id),
                        )
                    };
                    plan.anomalies.note(
                        "test_features",
                        id,
                        kind,
                        format!(
                            "feature id {id} is listed by test {} and again by test {}{whose}; the first listing is kept",
                            first.test_id, test_id
                        ),
                    );
                    continue;
                }
                wanted.insert(id, model);
                patches.insert(id, flags);
            }
        }
        let existing = load_features(txn, wanted.keys().copied()).await?;
        let mut writes = Vec::new();
        for (id, mut row) in wanted {
            let Some(stored) = existing.get(&id) else {
                writes.push(FeatureWrite { row, is_new: true });
                continue;
            };
            if stored.customer_id != row.customer_id {
                plan.counters.skipped += 1;
                plan.anomalies.note(
                    "test_features",
                    id,
                    AnomalyKind::CrossTenant,
                    format!(
                        "test {} (customer {}) lists feature {id}, which belongs to customer {}; left unchanged",
                        row.test_id, row.customer_id, stored.customer_id
                    ),
                );
                continue;
            }
            if stored.test_id != row.test_id {
                plan.counters.skipped += 1;
                plan.anomalies.note(
                    "test_features",
                    id,
                    AnomalyKind::DuplicateId,
                    format!(
                        "feature id {id} is listed by test {} but already belongs to test {}; left unchanged",
                        row.test_id, stored.test_id
                    ),
                );
                continue;
            }
            // An unspecified flag keeps the stored value.
            let [default, content, visual] = patches[&id];
            row.enable_default = default.unwrap_or(stored.enable_default);
            row.enable_content = content.unwrap_or(stored.enable_content);
            row.enable_visual = visual.unwrap_or(stored.enable_visual);
            if &row == stored {
                plan.counters.unchanged += 1;
            } else {
                writes.push(FeatureWrite { row, is_new: false });
            }
        }
        Ok(writes)
    }

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        writes: &[FeatureWrite],
    ) -> Result<Written, DbErr> {
        for chunk in writes.chunks(db::MAX_BINDS / FEATURE_COLUMNS) {
            let on_conflict = OnConflict::column(test_features::Column::Id)
                .update_columns([
                    test_features::Column::FeatureId,
                    test_features::Column::Title,
                    test_features::Column::Description,
                    test_features::Column::Howtofind,
                    test_features::Column::UserStories,
                    test_features::Column::EnableDefault,
                    test_features::Column::EnableContent,
                    test_features::Column::EnableVisual,
                ])
                // Belt and braces: a row another customer took meanwhile is not overwritten.
                .action_and_where(
                    Expr::col((test_features::Entity, test_features::Column::CustomerId))
                        .equals((Alias::new("excluded"), test_features::Column::CustomerId)),
                )
                .to_owned();
            test_features::Entity::insert_many(
                chunk.iter().map(|w| w.row.clone().into_active_model()),
            )
            .on_conflict(on_conflict)
            .exec_without_returning(txn)
            .await?;
        }
        let inserted = writes.iter().filter(|w| w.is_new).count() as u64;
        Ok(Written {
            inserted,
            updated: writes.len() as u64 - inserted,
            ..Written::default()
        })
    }

    async fn split(
        &self,
        _txn: &DatabaseTransaction,
        write: FeatureWrite,
    ) -> Result<Split<FeatureWrite>, DbErr> {
        Ok(Split::Row("test_features", write.row.id.to_string()))
    }
}

/// The `enable_default`, `enable_content`, `enable_visual` a payload states (`None`:
/// not stated, so an update keeps the stored value).
type Flags = [Option<bool>; 3];

/// The `test_features` rows a test's payload asks for, noting what cannot be used.
fn features_of(test: TestRow, plan: &mut BatchPlan) -> Vec<(Flags, test_features::Model)> {
    let parsed = match test.payload {
        Ok(parsed) => parsed,
        Err(problem) => {
            plan.anomalies
                .note("tests", test.id, problem.kind, problem.message);
            return Vec::new();
        }
    };
    if parsed.features.is_empty() && parsed.problems.is_empty() {
        plan.counters.skipped += 1;
    }
    for (index, problem) in &parsed.problems {
        plan.anomalies.note(
            "tests",
            format!("{}#features[{index}]", test.id),
            problem.kind,
            problem.message.clone(),
        );
    }
    parsed
        .features
        .into_iter()
        .map(|feature| {
            let flags = [
                feature.enable_default,
                feature.enable_content,
                feature.enable_visual,
            ];
            let model = test_features::Model {
                id: feature.id,
                customer_id: test.customer_id,
                test_id: test.id,
                feature_id: feature.feature_id,
                user_stories: serde_json::Value::from(feature.user_stories).to_string(),
                title: feature.title,
                description: feature.description,
                howtofind: feature.howtofind,
                enable_default: flags[0].unwrap_or(false),
                enable_content: flags[1].unwrap_or(false),
                enable_visual: flags[2].unwrap_or(false),
            };
            (flags, model)
        })
        .collect()
}

async fn load_features(
    txn: &DatabaseTransaction,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, test_features::Model>, DbErr> {
    let ids: Vec<i64> = ids.collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = txn.get_database_backend();
    if backend == DatabaseBackend::Sqlite {
        return load_features_sqlite(txn, &ids).await;
    }
    Ok(test_features::Entity::find()
        .filter(db::in_id_list(backend, test_features::Column::Id, &ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect())
}

/// `load_features` on SQLite, whose TEXT may hold bytes that are not UTF-8: the text
/// columns are read as bytes and decoded lossily, so such a row compares as changed and
/// is rewritten from the payload instead of failing its batch (and every retry).
async fn load_features_sqlite(
    txn: &DatabaseTransaction,
    ids: &[i64],
) -> Result<HashMap<i64, test_features::Model>, DbErr> {
    use test_features::Column as C;
    let backend = DatabaseBackend::Sqlite;
    let query = Query::select()
        .columns([C::Id, C::CustomerId, C::TestId, C::FeatureId])
        .expr(payload_column(backend, "title"))
        .expr(payload_column(backend, "description"))
        .expr(payload_column(backend, "howtofind"))
        .expr(payload_column(backend, "user_stories"))
        .columns([C::EnableDefault, C::EnableContent, C::EnableVisual])
        .from(test_features::Entity)
        .and_where(db::in_id_list(backend, C::Id, ids))
        .to_owned();
    let mut found = HashMap::with_capacity(ids.len());
    for row in txn.query_all(&query).await? {
        let text = |i: usize| {
            row.try_get_by_index::<Option<Vec<u8>>>(i)
                .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        let model = test_features::Model {
            id: row.try_get_by_index(0)?,
            customer_id: row.try_get_by_index(1)?,
            test_id: row.try_get_by_index(2)?,
            feature_id: row.try_get_by_index(3)?,
            title: text(4)?.unwrap_or_default(),
            description: text(5)?,
            howtofind: text(6)?,
            user_stories: text(7)?.unwrap_or_default(),
            enable_default: row.try_get_by_index(8)?,
            enable_content: row.try_get_by_index(9)?,
            enable_visual: row.try_get_by_index(10)?,
        };
        found.insert(model.id, model);
    }
    Ok(found)
}

/// A `bugs` row as phase 2 reads it, its payload already parsed (as for `TestRow`).
pub struct BugRow {
    customer_id: i64,
    test_id: i64,
    feature: Result<BugFeature, PayloadProblem>,
    test_feature_id: Option<i64>,
}

/// A bug to attribute to a test feature.
pub struct Attribution {
    bug_id: i64,
    test_feature_id: i64,
}

struct AttributionJob {
    /// In a dry run phase 1 was rolled back, so a feature it would have created is
    /// looked up in the bug's own test payload instead.
    dry_run: bool,
}

impl BatchJob for AttributionJob {
    type Row = BugRow;
    type Write = Attribution;

    fn reads(&self, backend: DatabaseBackend) -> Reads {
        Reads::Rows(vec![
            Expr::col(bugs::Column::CustomerId),
            Expr::col(bugs::Column::TestId),
            payload_column(backend, "raw_data"),
            Expr::col(bugs::Column::TestFeatureId),
        ])
    }

    fn decode(&self, row: &QueryResult, backend: DatabaseBackend) -> Result<BugRow, DbErr> {
        Ok(BugRow {
            customer_id: row.try_get_by_index(1)?,
            test_id: row.try_get_by_index(2)?,
            feature: payload::parse_bug_payload(&read_payload(backend, row, 3)?),
            test_feature_id: row.try_get_by_index(4)?,
        })
    }

    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        batch: Batch<BugRow>,
        plan: &mut BatchPlan,
    ) -> Result<Vec<Attribution>, DbErr> {
        let mut named = Vec::new();
        for (key, bug) in batch.rows {
            let Key::Int(bug_id) = key else { continue };
            match bug.feature {
                Ok(BugFeature::None) => plan.counters.skipped += 1,
                Ok(BugFeature::Id(feature)) => named.push((bug_id, bug, feature)),
                Err(problem) => plan
                    .anomalies
                    .note("bugs", bug_id, problem.kind, problem.message),
            }
        }
        let owners = feature_owners(txn, named.iter().map(|(_, _, f)| *f)).await?;
        let planned = if self.dry_run {
            let missing: Vec<i64> = named
                .iter()
                .filter(|(_, _, f)| !owners.contains_key(f))
                .map(|(_, bug, _)| bug.test_id)
                .collect();
            planned_owners(txn, missing).await?
        } else {
            HashMap::new()
        };
        let mut writes = Vec::new();
        for (bug_id, bug, feature) in named {
            let stored = owners.get(&feature);
            match stored.or_else(|| planned.get(&feature)) {
                None => plan.anomalies.note(
                    "bugs",
                    bug_id,
                    AnomalyKind::DanglingReference,
                    format!("names test feature {feature}, which has no test_features row; left unchanged"),
                ),
                Some(&owner) if owner != bug.customer_id => plan.anomalies.note(
                    "bugs",
                    bug_id,
                    AnomalyKind::CrossTenant,
                    format!(
                        "bug of customer {} names test feature {feature} of customer {owner}; left unchanged",
                        bug.customer_id
                    ),
                ),
                Some(_) if bug.test_feature_id == Some(feature) => plan.counters.unchanged += 1,
                // Only planned (dry run): the row does not exist to point at; count
                // the attribution a real run would make.
                Some(_) if stored.is_none() => plan.counters.updated += 1,
                Some(_) => writes.push(Attribution { bug_id, test_feature_id: feature }),
            }
        }
        Ok(writes)
    }

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        writes: &[Attribution],
    ) -> Result<Written, DbErr> {
        // One UPDATE … FROM (VALUES (bug, feature), …) per chunk: a join on the primary
        // key, two bound values a row.
        let list = Alias::new("attribution");
        for chunk in writes.chunks(db::MAX_BINDS / 2) {
            let values = chunk
                .iter()
                .map(|w| ValueTuple::Two(w.bug_id.into(), w.test_feature_id.into()))
                .collect();
            let update = Query::update()
                .table(bugs::Entity)
                .value(
                    bugs::Column::TestFeatureId,
                    Expr::col((list.clone(), Alias::new("column2"))),
                )
                .from(TableRef::ValuesList(values, list.clone().into_iden()))
                .and_where(
                    Expr::col((bugs::Entity, bugs::Column::Id))
                        .equals((list.clone(), Alias::new("column1"))),
                )
                .to_owned();
            txn.execute(&update).await?;
        }
        Ok(Written {
            updated: writes.len() as u64,
            ..Written::default()
        })
    }

    async fn split(
        &self,
        _txn: &DatabaseTransaction,
        write: Attribution,
    ) -> Result<Split<Attribution>, DbErr> {
        Ok(Split::Row("bugs", write.bug_id.to_string()))
    }
}

/// The customer owning each of `ids` in `test_features`.
async fn feature_owners(
    txn: &DatabaseTransaction,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, i64>, DbErr> {
    let mut ids: Vec<i64> = ids.collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(i64, i64)> = test_features::Entity::find()
        .select_only()
        .column(test_features::Column::Id)
        .column(test_features::Column::CustomerId)
        .filter(db::in_id_list(
            txn.get_database_backend(),
            test_features::Column::Id,
            &ids,
        ))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The features phase 1 would create from the payloads of `test_ids`, with their
/// customer (for the dry run).
async fn planned_owners(
    txn: &DatabaseTransaction,
    mut test_ids: Vec<i64>,
) -> Result<HashMap<i64, i64>, DbErr> {
    let mut owners = HashMap::new();
    if test_ids.is_empty() {
        return Ok(owners);
    }
    test_ids.sort_unstable();
    test_ids.dedup();
    let backend = txn.get_database_backend();
    let query = Query::select()
        .column(tests::Column::Id)
        .column(tests::Column::CustomerId)
        .expr(payload_column(backend, "data"))
        .from(tests::Entity)
        .and_where(db::in_id_list(backend, tests::Column::Id, &test_ids))
        .to_owned();
    for row in txn.query_all(&query).await? {
        let customer_id: i64 = row.try_get_by_index(1)?;
        let data = read_payload(backend, &row, 2)?;
        if let Ok(parsed) = payload::parse_test_payload(&data) {
            owners.extend(parsed.features.iter().map(|f| (f.id, customer_id)));
        }
    }
    Ok(owners)
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
    settings: EngineSettings,
    resume: bool,
    validate_after: bool,
    arguments: serde_json::Value,
) -> Result<(FeaturesSummary, Outcome)> {
    let dry_run = settings.dry_run;
    let mut ledger = match (dry_run, resume) {
        (true, _) => None,
        (false, true) => Some(RunLedger::resume(db, COMMAND).await?),
        (false, false) => Some(RunLedger::start(db, COMMAND, arguments).await?),
    };
    let run_id = ledger.as_ref().map(|l| l.id);
    let phases = {
        let mut walker = KeysetWalker::new(db, settings, ledger.as_mut());
        async {
            let features = walker.run(&FeatureJob, TESTS, "test_features").await?;
            let bugs = walker
                .run(&AttributionJob { dry_run }, BUGS, "bugs")
                .await?;
            anyhow::Ok((features, bugs))
        }
        .await
    };
    let (features, bugs) = match phases {
        Ok(done) => done,
        Err(err) => {
            if let Some(ledger) = &ledger {
                let status = if err.downcast_ref::<Interrupted>().is_some() {
                    RunStatus::Interrupted
                } else {
                    RunStatus::Failed
                };
                // Best effort: the error that stopped the run is the one to report.
                let _ = ledger.finish(db, status, serde_json::json!({})).await;
            }
            return Err(err);
        }
    };
    let mut total = features.counters;
    total.add(&bugs.counters);
    let too_many_errors = total.too_many_errors();
    let validation = if validate_after && !dry_run {
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
        ledger
            .finish(db, RunStatus::Completed, serde_json::to_value(&summary)?)
            .await?;
    }
    Ok((summary, Outcome::from_passed(passed)))
}
