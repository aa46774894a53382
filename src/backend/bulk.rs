//! Bulk loading for `seed`: rows encoded for the fastest load a database has (`COPY` on
//! PostgreSQL, multi-row INSERTs elsewhere), the encoding done beside the database's
//! work on the chunk before.

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

use super::{Dialect, MAX_BINDS, Session, sql::quoted_list};

/// Rows of one table encoded for the fastest bulk load its database has.
pub struct BulkRows {
    pub table: String,
    pub(super) body: BulkBody,
}

pub(super) enum BulkBody {
    /// `COPY … FROM STDIN` and its CSV.
    Copy { statement: String, csv: String },
    /// Multi-row INSERTs, run in one transaction.
    Inserts(Vec<Statement>),
}

/// How a database takes many rows at once.
#[async_trait]
pub trait BulkLoad: Session + Dialect {
    /// Encodes rows (each its values, in `columns` order) for [`BulkLoad::load_bulk`]:
    /// multi-row INSERTs of at most 1000 rows (and [`MAX_BINDS`] values) each, every
    /// value as the database stores it.
    fn encode_bulk(
        &self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<BulkRows> {
        let names = quoted_list(columns);
        let per_statement = (MAX_BINDS / columns.len().max(1)).clamp(1, 1000);
        let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
        let mut statements = Vec::new();
        let mut rows = rows.peekable();
        while rows.peek().is_some() {
            let mut bound = Vec::with_capacity(per_statement * columns.len());
            let mut count = 0;
            for row in rows.by_ref().take(per_statement) {
                bound.extend(row.into_iter().map(|value| self.stored_value(value)));
                count += 1;
            }
            let sql = format!(
                "INSERT INTO \"{table}\" ({names}) VALUES {}",
                vec![placeholders.as_str(); count].join(", ")
            );
            statements.push(Statement::from_sql_and_values(
                self.statement_kind(),
                sql,
                bound,
            ));
        }
        Ok(BulkRows {
            table: table.to_string(),
            body: BulkBody::Inserts(statements),
        })
    }

    /// Writes rows encoded by [`BulkLoad::encode_bulk`] in one transaction.
    async fn load_bulk(&self, db: &DatabaseConnection, rows: BulkRows) -> Result<()> {
        let context = || format!("could not write the seeded rows of `{}`", rows.table);
        let BulkBody::Inserts(statements) = rows.body else {
            bail!("BUG: rows encoded for COPY reached a database without it");
        };
        let txn = db.begin().await.with_context(context)?;
        for statement in statements {
            txn.execute_raw(statement).await.with_context(context)?;
        }
        txn.commit().await.with_context(context)?;
        Ok(())
    }

    /// Statements after a seed: make every loaded row durable, and move the sequences
    /// of tables given explicit ids past them (none where each commit was durable and
    /// an explicit id moves the counter on).
    fn after_seed(&self, _serial_tables: &[&str]) -> Vec<String> {
        Vec::new()
    }
}
