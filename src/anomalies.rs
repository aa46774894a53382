//! Anomalies: rows a backfill could not (or would not) write, kept in
//! `backfill_anomalies` for a person to review. `AnomalyLog` gathers them per batch and
//! writes them in that batch's transaction; the `anomalies` command lists and resolves.

use std::collections::BTreeMap;
use std::str::FromStr;

use anyhow::{Context, Result};
use chrono::Utc;
use entity::backfill_anomalies::{self, Column};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use migration::SchemaDialect;

use crate::backend::Db;
use crate::error::UsageError;

/// Stable, machine-readable anomaly codes (SPEC §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    InvalidJson,
    MissingId,
    InvalidField,
    DuplicateId,
    CrossTenant,
    DanglingReference,
    LegacyAlias,
    RowRejected,
    LockTimeout,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 9] = [
        Self::InvalidJson,
        Self::MissingId,
        Self::InvalidField,
        Self::DuplicateId,
        Self::CrossTenant,
        Self::DanglingReference,
        Self::LegacyAlias,
        Self::RowRejected,
        Self::LockTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::MissingId => "missing_id",
            Self::InvalidField => "invalid_field",
            Self::DuplicateId => "duplicate_id",
            Self::CrossTenant => "cross_tenant",
            Self::DanglingReference => "dangling_reference",
            Self::LegacyAlias => "legacy_alias",
            Self::RowRejected => "row_rejected",
            Self::LockTimeout => "lock_timeout",
        }
    }

    /// Whether the record behind this anomaly counts as errored for the 5% rule.
    /// Aliases are normalized and duplicates written once: those rows are fine.
    pub fn is_error(self) -> bool {
        !matches!(self, Self::LegacyAlias | Self::DuplicateId)
    }
}

impl FromStr for AnomalyKind {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
                UsageError::new(format!(
                    "`{text}` is not an anomaly kind (one of {})",
                    known.join(", ")
                ))
            })
    }
}

/// One anomaly, before it is written.
#[derive(Debug, Clone)]
pub struct Anomaly {
    pub table: &'static str,
    pub row_id: String,
    pub kind: AnomalyKind,
    pub description: String,
}

/// The anomalies of one batch, one per (table, row, kind): the open-anomaly index
/// allows no twins, and neither may one INSERT carry two.
#[derive(Debug, Default)]
pub struct AnomalyLog {
    pending: BTreeMap<(&'static str, String, AnomalyKind), String>,
}

impl AnomalyLog {
    pub fn note(
        &mut self,
        table: &'static str,
        row_id: impl ToString,
        kind: AnomalyKind,
        description: impl Into<String>,
    ) {
        self.pending
            .insert((table, row_id.to_string(), kind), description.into());
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn count_of(&self, kind: AnomalyKind) -> usize {
        self.pending.keys().filter(|(_, _, k)| *k == kind).count()
    }

    /// How many noted anomalies mark their record as errored.
    pub fn error_count(&self) -> usize {
        self.pending
            .keys()
            .filter(|(_, _, kind)| kind.is_error())
            .count()
    }

    pub fn drain(&mut self) -> Vec<Anomaly> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|((table, row_id, kind), description)| Anomaly {
                table,
                row_id,
                kind,
                description,
            })
            .collect()
    }

    /// Writes the noted anomalies: a new one is inserted, an open one with the same
    /// (table, row, kind) is refreshed in place.
    pub async fn flush(
        &mut self,
        db: &impl ConnectionTrait,
        schema: &dyn SchemaDialect,
        run_id: Option<i64>,
    ) -> Result<(), DbErr> {
        let now = Utc::now().fixed_offset();
        let open = schema.anomalies_open_predicate();
        let anomalies = self.drain();
        // 7 columns a row: stay far below SQLite's 32766 bind parameters.
        for chunk in anomalies.chunks(1000) {
            let models = chunk.iter().map(|a| backfill_anomalies::ActiveModel {
                table_name: Set(a.table.to_string()),
                row_id: Set(Some(a.row_id.clone())),
                kind: Set(a.kind.as_str().to_string()),
                issue_description: Set(a.description.clone()),
                resolved: Set(false),
                run_id: Set(run_id),
                created_at: Set(now),
                last_seen_at: Set(now),
                ..Default::default()
            });
            let on_conflict = OnConflict::columns([Column::TableName, Column::RowId, Column::Kind])
                .target_and_where(Expr::cust(open))
                .update_columns([Column::IssueDescription, Column::RunId, Column::LastSeenAt])
                .to_owned();
            backfill_anomalies::Entity::insert_many(models)
                .on_conflict(on_conflict)
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }
}

/// One listed anomaly.
#[derive(Debug, Serialize)]
pub struct ListedAnomaly {
    pub id: i64,
    pub table: String,
    pub row_id: Option<String>,
    pub kind: String,
    pub issue: String,
    pub resolved: bool,
    pub run_id: Option<i64>,
    pub last_seen_at: String,
}

/// Which anomalies `list` returns.
#[derive(Debug, Clone, Default)]
pub struct AnomalyFilter<'a> {
    pub table: Option<&'a str>,
    pub kind: Option<AnomalyKind>,
    /// Only those a run logged.
    pub run: Option<i64>,
    /// Resolved ones too.
    pub include_resolved: bool,
    pub limit: u64,
}

/// The anomalies `filter` keeps (open ones unless it includes resolved), newest first.
pub async fn list(db: &Db, filter: &AnomalyFilter<'_>) -> Result<Vec<ListedAnomaly>> {
    let mut query = backfill_anomalies::Entity::find();
    if let Some(table) = filter.table {
        query = query.filter(Column::TableName.eq(table));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(Column::Kind.eq(kind.as_str()));
    }
    if let Some(run) = filter.run {
        query = query.filter(Column::RunId.eq(run));
    }
    if !filter.include_resolved {
        query = query.filter(Column::Resolved.eq(false));
    }
    let rows = query
        .order_by_desc(Column::LastSeenAt)
        .order_by_desc(Column::Id)
        .limit(filter.limit)
        .all(db)
        .await
        .context("could not read backfill_anomalies")?;
    Ok(rows
        .into_iter()
        .map(|m| ListedAnomaly {
            id: m.id,
            table: m.table_name,
            row_id: m.row_id,
            kind: m.kind,
            issue: m.issue_description,
            resolved: m.resolved,
            run_id: m.run_id,
            last_seen_at: m.last_seen_at.to_rfc3339(),
        })
        .collect())
}

/// Marks `ids` resolved. Unknown ids are refused before anything changes.
pub async fn resolve(db: &Db, ids: &[i64]) -> Result<u64> {
    let found: Vec<i64> = backfill_anomalies::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
        .context("could not read backfill_anomalies")?;
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !found.contains(id))
        .map(|id| id.to_string())
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(UsageError::new(format!(
            "no anomaly with id {}: nothing was changed",
            unknown.join(", ")
        )));
    }
    let result = backfill_anomalies::Entity::update_many()
        .col_expr(Column::Resolved, Expr::value(true))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await
        .context("could not update backfill_anomalies")?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_refused() {
        for kind in AnomalyKind::ALL {
            assert_eq!(kind.as_str().parse::<AnomalyKind>().unwrap(), kind);
        }
        let err = "cross-tenant".parse::<AnomalyKind>().unwrap_err();
        assert!(err.to_string().contains("cross_tenant"), "{err}");
    }

    #[test]
    fn a_batch_logs_one_anomaly_per_row_and_kind() {
        let mut log = AnomalyLog::default();
        log.note("bugs", 7, AnomalyKind::CrossTenant, "first");
        log.note("bugs", 7, AnomalyKind::CrossTenant, "again");
        log.note("bugs", 7, AnomalyKind::LegacyAlias, "alias");
        assert_eq!(log.len(), 2);
        assert_eq!(log.error_count(), 1, "an alias is normalized, not an error");
        let drained = log.drain();
        assert_eq!(drained[0].description, "again", "the latest note wins");
        assert!(log.is_empty());
    }
}
