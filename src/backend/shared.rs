//! Pieces more than one backend uses: the journal row of a write, bulk loading by
//! multi-row INSERTs, arrays stored as JSON, the `project_id` triggers dropped, and a
//! scratch database created beside the given one.

use anyhow::Result;
use chrono::Utc;
use entity::backfill_journal;
use sea_orm::sea_query::{Expr, FunctionCall, InsertStatement, Query, SelectStatement, Value};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};

use super::{Backend, BulkBody, BulkRows, JournaledUpdate, MAX_BINDS, connect};

/// The journal row of one write: `INSERT INTO backfill_journal … SELECT run, table,
/// batch, <changes>, now FROM source WHERE rows`, which inserts nothing when no row
/// matched. Shared by the backends' [`Backend::journaled_update`].
pub(super) fn journal_insert(
    entry: &JournaledUpdate<'_>,
    changes: FunctionCall,
    source: sea_orm::sea_query::Alias,
    rows: Expr,
) -> Result<InsertStatement, DbErr> {
    let select: SelectStatement = Query::select()
        .expr(Expr::value(entry.run_id))
        .expr(Expr::value(entry.table))
        .expr(Expr::value(entry.batch as i64))
        .expr(changes)
        .expr(Expr::value(Utc::now().fixed_offset()))
        .from(source)
        .and_where(rows)
        .and_having(Expr::cust("COUNT(*) > 0"))
        .to_owned();
    Ok(Query::insert()
        .into_table(backfill_journal::Entity)
        .columns([
            backfill_journal::Column::RunId,
            backfill_journal::Column::TableName,
            backfill_journal::Column::BatchNo,
            backfill_journal::Column::Changes,
            backfill_journal::Column::CreatedAt,
        ])
        .select_from(select)
        .map_err(|err| DbErr::Custom(err.to_string()))?
        .to_owned())
}

/// A value as a backend without array types stores it: an array as its JSON text.
pub(super) fn array_as_json(value: Value) -> Value {
    fn json(value: Value) -> serde_json::Value {
        match value {
            Value::Uuid(Some(u)) => serde_json::Value::String(u.hyphenated().to_string()),
            Value::Int(Some(v)) => v.into(),
            Value::BigInt(Some(v)) => v.into(),
            Value::Float(Some(v)) => v.into(),
            Value::Double(Some(v)) => v.into(),
            Value::String(Some(v)) => v.into(),
            Value::Bool(Some(v)) => v.into(),
            _ => serde_json::Value::Null,
        }
    }
    match value {
        Value::Array(_, Some(items)) => Value::String(Some(
            serde_json::Value::Array(items.into_iter().map(json).collect()).to_string(),
        )),
        Value::Array(_, None) => Value::String(None),
        other => other,
    }
}

/// Rows encoded as multi-row INSERTs of at most 1000 rows (and [`MAX_BINDS`] values)
/// each, every value as `backend` stores it: the bulk load of backends without `COPY`.
pub(super) fn multi_row_inserts(
    backend: &dyn Backend,
    kind: DatabaseBackend,
    table: &str,
    columns: &[&str],
    rows: &mut dyn Iterator<Item = Vec<Value>>,
) -> BulkRows {
    let names = super::sqlite::quoted_list(columns);
    let per_statement = (MAX_BINDS / columns.len().max(1)).clamp(1, 1000);
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    let mut statements = Vec::new();
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut bound = Vec::with_capacity(per_statement * columns.len());
        let mut count = 0;
        for row in rows.by_ref().take(per_statement) {
            bound.extend(row.into_iter().map(|value| backend.stored_value(value)));
            count += 1;
        }
        let sql = format!(
            "INSERT INTO \"{table}\" ({names}) VALUES {}",
            vec![placeholders.as_str(); count].join(", ")
        );
        statements.push(Statement::from_sql_and_values(kind, sql, bound));
    }
    BulkRows {
        table: table.to_string(),
        body: BulkBody::Inserts(statements),
    }
}

/// Writes rows encoded by [`multi_row_inserts`] in one transaction.
pub(super) async fn load_inserts(db: &DatabaseConnection, rows: BulkRows) -> Result<()> {
    use anyhow::Context;
    let context = || format!("could not write the seeded rows of `{}`", rows.table);
    let BulkBody::Inserts(statements) = rows.body else {
        anyhow::bail!("BUG: rows encoded for COPY reached a backend without it");
    };
    let txn = db.begin().await.with_context(context)?;
    for statement in statements {
        txn.execute_raw(statement).await.with_context(context)?;
    }
    txn.commit().await.with_context(context)?;
    Ok(())
}

/// Statements that drop the two triggers guarding `table.project_id` (SQLite, MySQL).
pub(super) fn drop_project_id_triggers(table: &str) -> Vec<String> {
    [
        migration::project_id_insert_trigger_name(table),
        migration::project_id_update_trigger_name(table),
    ]
    .map(|trigger| format!("DROP TRIGGER IF EXISTS \"{trigger}\""))
    .into()
}

/// Creates the database `name` on the server `db` is connected to and connects to it
/// (`url` with its path replaced): the scratch database of a server backend. The name
/// is ours (digits and underscores), never user input; `needs` says what privilege
/// creating it takes.
pub(super) async fn create_database_beside(
    db: &DatabaseConnection,
    url: &str,
    name: &str,
    needs: &str,
) -> Result<DatabaseConnection> {
    use anyhow::Context;
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .with_context(|| {
            format!("could not create a scratch database beside the given one ({needs})")
        })?;
    let mut parsed = url::Url::parse(url).context("the database URL is not a valid URL")?;
    parsed.set_path(&format!("/{name}"));
    connect(parsed.as_str()).await
}
