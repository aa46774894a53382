//! PostgreSQL's bulk load: `COPY … FROM STDIN` in CSV, each chunk committed without
//! waiting for its WAL flush, and the sequences moved past explicit ids afterwards.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::Value;
use sea_orm::{DatabaseConnection, sqlx};

use super::Postgres;
use crate::backend::bulk::BulkBody;
use crate::backend::sql::quoted_list;
use crate::backend::{BulkLoad, BulkRows};

#[async_trait]
impl BulkLoad for Postgres {
    fn encode_bulk(
        &self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> anyhow::Result<BulkRows> {
        let mut csv = String::new();
        for row in rows {
            for (index, value) in row.into_iter().enumerate() {
                if index > 0 {
                    csv.push(',');
                }
                push_csv_field(&mut csv, value)?;
            }
            csv.push('\n');
        }
        let statement = format!(
            "COPY \"{table}\" ({}) FROM STDIN (FORMAT csv)",
            quoted_list(columns)
        );
        Ok(BulkRows {
            table: table.to_string(),
            body: BulkBody::Copy { statement, csv },
        })
    }

    /// A chunk commits without waiting for its WAL flush: a seed that dies is started
    /// again on an empty database anyway, and `after_seed` ends with a synchronous
    /// commit, which flushes all of them.
    async fn load_bulk(&self, db: &DatabaseConnection, rows: BulkRows) -> anyhow::Result<()> {
        let context = || format!("could not write the seeded rows of `{}`", rows.table);
        let BulkBody::Copy { statement, csv } = rows.body else {
            anyhow::bail!("BUG: PostgreSQL was given rows encoded for another database");
        };
        let mut txn = db
            .get_postgres_connection_pool()
            .begin()
            .await
            .with_context(context)?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *txn)
            .await
            .with_context(context)?;
        let mut copy = txn.copy_in_raw(&statement).await.with_context(context)?;
        copy.send(csv.into_bytes()).await.with_context(context)?;
        copy.finish().await.with_context(context)?;
        txn.commit().await.with_context(context)?;
        Ok(())
    }

    fn after_seed(&self, serial_tables: &[&str]) -> Vec<String> {
        // Explicit ids do not move a SERIAL's sequence; the application's next insert
        // must not collide with them. The last statement commits synchronously, which
        // flushes the WAL of every chunk before it.
        let mut statements: Vec<String> = serial_tables
            .iter()
            .map(|table| {
                format!(
                    "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT MAX(id) FROM \"{table}\"))"
                )
            })
            .collect();
        statements.push("SELECT txid_current()".to_string());
        statements
    }
}

/// Appends one value as a PostgreSQL CSV field: NULL is an empty unquoted field, text
/// is always quoted (so an empty string stays a string), arrays use PostgreSQL's literal.
fn push_csv_field(csv: &mut String, value: sea_orm::Value) -> anyhow::Result<()> {
    use sea_orm::Value as V;
    use std::fmt::Write;
    let quoted = |csv: &mut String, text: &str| {
        csv.push('"');
        csv.push_str(&text.replace('"', "\"\""));
        csv.push('"');
    };
    match value {
        V::Bool(None)
        | V::Int(None)
        | V::BigInt(None)
        | V::Float(None)
        | V::Double(None)
        | V::String(None)
        | V::Json(None)
        | V::Uuid(None)
        | V::ChronoDateTimeWithTimeZone(None)
        | V::Array(_, None) => {}
        V::Bool(Some(v)) => csv.push_str(if v { "true" } else { "false" }),
        V::Int(Some(v)) => write!(csv, "{v}")?,
        V::BigInt(Some(v)) => write!(csv, "{v}")?,
        V::Float(Some(v)) => write!(csv, "{v}")?,
        V::Double(Some(v)) => write!(csv, "{v}")?,
        V::String(Some(v)) => quoted(csv, &v),
        V::Json(Some(v)) => quoted(csv, &v.to_string()),
        V::Uuid(Some(v)) => write!(csv, "{}", v.hyphenated())?,
        V::ChronoDateTimeWithTimeZone(Some(v)) => csv.push_str(&v.to_rfc3339()),
        V::Array(_, Some(items)) => {
            let mut literal = String::from("{");
            for (index, item) in items.into_iter().enumerate() {
                if index > 0 {
                    literal.push(',');
                }
                push_csv_field(&mut literal, item)?;
            }
            literal.push('}');
            quoted(csv, &literal);
        }
        other => anyhow::bail!("BUG: seed cannot COPY a value like {other:?}"),
    }
    Ok(())
}
