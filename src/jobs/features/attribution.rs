//! Phase 2 of `backfill-features`: each batch of `bugs` is attributed to the test
//! feature its payload names, in one joined update per batch (see
//! [`Backend::set_by_key`]). A feature of
//! another customer, or one that does not exist, is an anomaly and the bug is left as
//! it is.

use std::collections::HashMap;

use entity::{bugs, test_features};
use sea_orm::sea_query::{Expr, IntoColumnRef};
use sea_orm::{DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryResult, QuerySelect};

use super::journal::{self, BugChanges};
use super::payload::{self, BugFeature, PayloadProblem};
use super::planned::Planned;
use crate::anomalies::AnomalyKind;
use crate::backend::Backend;
use crate::engine::{Batch, BatchJob, BatchPlan, Reads, Split, Written};

/// A `bugs` row as phase 2 reads it, its payload already parsed (as for `TestRow`).
pub(super) struct BugRow {
    id: i64,
    customer_id: i64,
    feature: Result<BugFeature, PayloadProblem>,
    test_feature_id: Option<i64>,
}

/// A bug to attribute to a test feature.
pub(super) struct Attribution {
    bug_id: i64,
    /// What the bug pointed at before.
    old: Option<i64>,
    test_feature_id: i64,
    /// The batch it belongs to, for the journal.
    batch: u64,
}

pub(super) struct AttributionJob<'a> {
    pub backend: &'static dyn Backend,
    /// The run whose journal records what is written; none in a dry run.
    pub run_id: Option<i64>,
    /// In a dry run phase 1 was rolled back, so a feature it would have created is
    /// looked up among those it planned.
    pub planned: Option<&'a Planned>,
}

impl BatchJob for AttributionJob<'_> {
    type Row = BugRow;
    type Write = Attribution;

    fn reads(&self) -> Reads {
        Reads::Rows(vec![
            Expr::col(bugs::Column::CustomerId),
            self.backend.text_as_read(Expr::col(bugs::Column::RawData)),
            Expr::col(bugs::Column::TestFeatureId),
        ])
    }

    fn decode(&self, row: &QueryResult) -> Result<BugRow, DbErr> {
        Ok(BugRow {
            id: row.try_get_by_index(0)?,
            customer_id: row.try_get_by_index(1)?,
            feature: payload::parse_bug_payload(
                &self.backend.read_text(row, 2)?.unwrap_or_default(),
            ),
            test_feature_id: row.try_get_by_index(3)?,
        })
    }

    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        batch: Batch<BugRow>,
        plan: &mut BatchPlan,
    ) -> Result<Vec<Attribution>, DbErr> {
        let batch_number = batch.number;
        let mut named = Vec::new();
        for (_, bug) in batch.rows {
            let bug_id = bug.id;
            match bug.feature {
                Ok(BugFeature::None) => plan.counters.skipped += 1,
                Ok(BugFeature::Id(feature)) => named.push((bug_id, bug, feature)),
                Err(problem) => plan
                    .anomalies
                    .note("bugs", bug_id, problem.kind, problem.message),
            }
        }
        let owners = feature_owners(txn, self.backend, named.iter().map(|(_, _, f)| *f)).await?;
        let planned: HashMap<i64, i64> = match self.planned {
            Some(planned) => {
                let missing: Vec<i64> = named
                    .iter()
                    .map(|(_, _, f)| *f)
                    .filter(|f| !owners.contains_key(f))
                    .collect();
                planned
                    .find(&missing)
                    .await?
                    .into_iter()
                    .map(|(id, feature)| (id, feature.customer_id))
                    .collect()
            }
            None => HashMap::new(),
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
                Some(_) => writes.push(Attribution {
                    bug_id,
                    old: bug.test_feature_id,
                    test_feature_id: feature,
                    batch: batch_number,
                }),
            }
        }
        Ok(writes)
    }

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        writes: &[Attribution],
    ) -> Result<Written, DbErr> {
        let pairs: Vec<(i64, i64)> = writes
            .iter()
            .map(|w| (w.bug_id, w.test_feature_id))
            .collect();
        self.backend
            .set_by_key(txn, "bugs", "id", "test_feature_id", &pairs)
            .await?;
        if let (Some(run_id), Some(first)) = (self.run_id, writes.first()) {
            let changes = BugChanges {
                attributed: writes
                    .iter()
                    .map(|w| (w.bug_id, w.old, w.test_feature_id))
                    .collect(),
            };
            journal::record(txn, run_id, "bugs", first.batch, &changes).await?;
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
    backend: &dyn Backend,
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
        .filter(backend.in_id_list(test_features::Column::Id.into_column_ref(), &ids))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows.into_iter().collect())
}
