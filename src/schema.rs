//! Drift between the entities and a database: every entity column must exist with a
//! compatible type and nullability, read back from the database's own catalog; and
//! every key and index the migrations create must be there. Used by `migrate check`
//! and by the migration tests.

use anyhow::{Context, Result};
use entity::prelude::*;
use migration::catalog;
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, Iterable, PrimaryKeyToColumn,
};

use crate::backend::Db;

/// One column as an entity declares it.
#[derive(Debug, Clone)]
pub struct ExpectedColumn {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
}

/// The columns `E` declares, with its table name.
fn columns_of<E: EntityTrait>() -> (String, Vec<ExpectedColumn>) {
    let primary: Vec<String> = E::PrimaryKey::iter()
        .map(|p| p.into_column().as_str().to_string())
        .collect();
    let columns = E::Column::iter()
        .map(|column| {
            let def = column.def();
            let name = column.as_str().to_string();
            ExpectedColumn {
                nullable: def.is_null() && !primary.contains(&name),
                column_type: def.get_column_type().clone(),
                name,
            }
        })
        .collect();
    (E::default().table_name().to_string(), columns)
}

/// Every entity of the crate, in migration order.
pub fn expected_schema() -> Vec<(String, Vec<ExpectedColumn>)> {
    vec![
        columns_of::<Tests>(),
        columns_of::<TestFeatures>(),
        columns_of::<Bugs>(),
        columns_of::<L2Insights>(),
        columns_of::<Nodes>(),
        columns_of::<Edges>(),
        columns_of::<WorkingMemory>(),
        columns_of::<EpisodeMemory>(),
        columns_of::<L0Raw>(),
        columns_of::<GroundTruth>(),
        columns_of::<StaleMemory>(),
        columns_of::<SmfProposals>(),
        columns_of::<IefFeedback>(),
        columns_of::<L2InsightHistory>(),
        columns_of::<BackfillAnomalies>(),
        columns_of::<BackfillRuns>(),
        columns_of::<BackfillJournal>(),
        columns_of::<BackfillRanges>(),
        columns_of::<BackfillSettings>(),
        columns_of::<BackfillSamples>(),
    ]
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
pub struct ActualColumn {
    pub name: String,
    /// PostgreSQL `udt_name` (`int8`, `_float4`, `jsonb`…), SQLite declared type.
    pub type_name: String,
    pub nullable: bool,
}

/// The columns of `table` as the database has them (empty when the table is missing).
pub async fn actual_columns(db: &Db, table: &str) -> Result<Vec<ActualColumn>> {
    let rows = db
        .query_all_raw(db.backend().columns_query(table))
        .await
        .with_context(|| format!("could not read the columns of `{table}`"))?;
    rows.iter()
        .map(|row| {
            Ok(ActualColumn {
                name: row.try_get_by_index(0)?,
                type_name: row.try_get_by_index::<String>(1)?.to_lowercase(),
                nullable: row.try_get_by_index(2)?,
            })
        })
        .collect()
}

/// One difference between entities and database, naming table and column.
pub type Drift = String;

/// Differences between the entities and `db`. Extra columns in the database are fine
/// (SPEC §3); a NOT NULL column where the entity allows NULL is fine too (after
/// `--promote-not-null`).
pub async fn drift(db: &Db) -> Result<Vec<Drift>> {
    let backend = db.backend();
    let mut drift = Vec::new();
    for (table, expected) in expected_schema() {
        let actual = actual_columns(db, &table).await?;
        if actual.is_empty() {
            drift.push(format!("table `{table}` is missing"));
            continue;
        }
        for column in expected {
            let Some(found) = actual.iter().find(|a| a.name == column.name) else {
                drift.push(format!("`{table}.{}` is missing", column.name));
                continue;
            };
            if !backend.holds_type(&column.column_type, &found.type_name)
                && !backend.stands_for_embedding(&found.name, &found.type_name)
            {
                drift.push(format!(
                    "`{table}.{}` is {} in the database, which cannot hold the entity's {:?}",
                    column.name, found.type_name, column.column_type
                ));
            }
            if found.nullable && !column.nullable {
                drift.push(format!(
                    "`{table}.{}` allows NULL in the database but not in the entity",
                    column.name
                ));
            }
        }
    }
    Ok(drift)
}

/// The unique keys, indexes and foreign keys that `reference` (a scratch database the
/// migrations built) has on the entities' tables and `db` lacks, compared by what they
/// cover rather than by name (see `migration::catalog`); but not a key that the
/// table's layout over a cluster cannot hold.
pub async fn missing_keys(reference: &Db, db: &Db) -> Result<Vec<Drift>> {
    let backend = db.backend();
    let mut drift = Vec::new();
    for (table, _) in expected_schema() {
        if actual_columns(db, &table).await?.is_empty() {
            continue; // reported by `drift` as missing
        }
        let layout = backend.layout(db, &table).await?;
        let found = catalog::indexes(db, &table)
            .await
            .with_context(|| format!("could not read the indexes of `{table}`"))?;
        for wanted in catalog::indexes(reference, &table).await? {
            // A key the table's layout cannot hold is no drift: Citus refuses it.
            let holdable = !wanted.unique || layout.can_hold_unique(&wanted.columns);
            if holdable && !found.iter().any(|index| index.serves_as(&wanted)) {
                let kind = if wanted.unique { "unique key" } else { "index" };
                drift.push(format!(
                    "`{table}` lacks the {kind} {} on ({})",
                    wanted.name,
                    wanted.columns.join(", ")
                ));
            }
        }
        let found = catalog::foreign_keys(db, &table)
            .await
            .with_context(|| format!("could not read the foreign keys of `{table}`"))?;
        for wanted in catalog::foreign_keys(reference, &table).await? {
            let referenced = backend.layout(db, &wanted.referenced_table).await?;
            if layout.can_hold_foreign_key(&wanted.columns, &referenced)
                && !found.iter().any(|key| key.serves_as(&wanted))
            {
                let name = if wanted.name.is_empty() {
                    String::new()
                } else {
                    format!(" {}", wanted.name)
                };
                let fix = backend.missing_foreign_key_hint();
                drift.push(format!(
                    "`{table}.{}` lacks the foreign key{name} to `{}`{fix}",
                    wanted.columns.join(", "),
                    wanted.referenced_table
                ));
            }
        }
    }
    Ok(drift)
}
