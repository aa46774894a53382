//! Phase 1 of `backfill-features`: each batch of `tests` becomes the `test_features`
//! rows its payloads list, upserted in bulk. Rows whose stored values already match are
//! not written; a row of another customer is never overwritten.

use std::collections::{BTreeMap, HashMap};

use entity::{test_features, tests};
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, QueryResult};

use super::journal::{self, FeatureChanges, Rewrite};
use super::payload::{self, PayloadProblem, TestPayload};
use super::planned::{Planned, PlannedFeature};
use super::stored::load_features;
use crate::anomalies::AnomalyKind;
use crate::backend::{Backend, MAX_BINDS};
use crate::engine::{Batch, BatchJob, BatchPlan, Reads, Split, Written};

/// Bound values per `test_features` row.
const FEATURE_COLUMNS: usize = 11;

/// What an upsert of a stored feature may change: everything but its key, its owner
/// (`customer_id`, the upsert's guard) and its test.
const UPDATED_COLUMNS: [&str; 8] = [
    "feature_id",
    "title",
    "description",
    "howtofind",
    "user_stories",
    "enable_default",
    "enable_content",
    "enable_visual",
];

/// A `tests` row as phase 1 reads it, its payload already parsed: a batch read ahead is
/// decoded while the database works on the batch before it.
pub(super) struct TestRow {
    id: i64,
    customer_id: i64,
    payload: Result<TestPayload, PayloadProblem>,
}

/// A `test_features` row to insert or rewrite.
pub(super) struct FeatureWrite {
    row: test_features::Model,
    /// The row as stored, when it is rewritten; none when it is new.
    stored: Option<test_features::Model>,
    /// The batch it belongs to, for the journal.
    batch: u64,
}

pub(super) struct FeatureJob<'a> {
    pub backend: &'static dyn Backend,
    /// The run whose journal records what is written; none in a dry run.
    pub run_id: Option<i64>,
    /// In a dry run, where the features inserted by earlier (rolled back) batches are
    /// kept.
    pub planned: Option<&'a Planned>,
}

impl BatchJob for FeatureJob<'_> {
    type Row = TestRow;
    type Write = FeatureWrite;

    fn reads(&self) -> Reads {
        Reads::Rows(vec![
            Expr::col(tests::Column::CustomerId),
            self.backend.text_as_read(Expr::col(tests::Column::Data)),
        ])
    }

    fn decode(&self, row: &QueryResult) -> Result<TestRow, DbErr> {
        Ok(TestRow {
            id: row.try_get_by_index(0)?,
            customer_id: row.try_get_by_index(1)?,
            payload: payload::parse_test_payload(
                &self.backend.read_text(row, 2)?.unwrap_or_default(),
            ),
        })
    }

    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        batch: Batch<TestRow>,
        plan: &mut BatchPlan,
    ) -> Result<Vec<FeatureWrite>, DbErr> {
        let batch_number = batch.number;
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
        let mut existing = load_features(txn, self.backend, wanted.keys().copied(), false).await?;
        if let Some(planned) = self.planned {
            // The rows earlier batches of this dry run would have inserted; only
            // their owner and test matter to a later listing.
            let missing: Vec<i64> = wanted
                .keys()
                .filter(|id| !existing.contains_key(id))
                .copied()
                .collect();
            for (id, feature) in planned.find(&missing).await? {
                let stored = test_features::Model {
                    customer_id: feature.customer_id,
                    test_id: feature.test_id,
                    ..wanted[&id].clone()
                };
                existing.insert(id, stored);
            }
        }
        let batch = batch_number;
        let mut writes = Vec::new();
        for (id, mut row) in wanted {
            let Some(stored) = existing.get(&id) else {
                writes.push(FeatureWrite {
                    row,
                    stored: None,
                    batch,
                });
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
                writes.push(FeatureWrite {
                    row,
                    stored: Some(stored.clone()),
                    batch,
                });
            }
        }
        Ok(writes)
    }

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        writes: &[FeatureWrite],
    ) -> Result<Written, DbErr> {
        for chunk in writes.chunks(MAX_BINDS / FEATURE_COLUMNS) {
            // Belt and braces: a row another customer took meanwhile is not overwritten.
            let on_conflict =
                self.backend
                    .guarded_upsert("test_features", "id", &UPDATED_COLUMNS, "customer_id");
            test_features::Entity::insert_many(
                chunk.iter().map(|w| w.row.clone().into_active_model()),
            )
            .on_conflict(on_conflict)
            .exec_without_returning(txn)
            .await?;
            if let (Some(run_id), Some(first)) = (self.run_id, chunk.first()) {
                let mut changes = FeatureChanges::default();
                for write in chunk {
                    let new = journal::fingerprint(&write.row);
                    match &write.stored {
                        None => changes.inserted.push((write.row.id, new)),
                        Some(stored) => changes.rewritten.push(Rewrite {
                            old: stored.clone(),
                            new,
                        }),
                    }
                }
                journal::record(txn, run_id, "test_features", first.batch, &changes).await?;
            }
        }
        if let Some(planned) = self.planned {
            let new: Vec<PlannedFeature> = writes
                .iter()
                .filter(|w| w.stored.is_none())
                .map(|w| PlannedFeature {
                    id: w.row.id,
                    customer_id: w.row.customer_id,
                    test_id: w.row.test_id,
                })
                .collect();
            planned.record(&new).await?;
        }
        let inserted = writes.iter().filter(|w| w.stored.is_none()).count() as u64;
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
