//! PostgreSQL's writes: the journal comes from the update's own `RETURNING`, in one
//! statement; NOT NULL is proven from the validated check and the check retired; the
//! check is lifted for seeding legacy rows.

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, Func, Query, WithClause};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use super::Postgres;
use crate::backend::writes::journal_insert;
use crate::backend::{Changed, JournaledUpdate, Writes};

#[async_trait]
impl Writes for Postgres {
    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        // One statement, `WITH changed AS (UPDATE … RETURNING key) INSERT INTO
        // backfill_journal SELECT … FROM changed`: the journal names exactly the rows
        // the update changed.
        let changed = Alias::new("changed");
        let row_key = Alias::new("row_key");
        let mut update = entry.update.clone();
        update.returning(Query::returning().expr(entry.identity.selected(self)));
        let changes = Func::cust("jsonb_build_object")
            .arg("old")
            .arg(entry.old)
            .arg("keys")
            .arg(
                Func::cust("to_jsonb").arg(Func::cust("array_agg").arg(Expr::col(row_key.clone()))),
            );
        let journal = journal_insert(&entry, changes, changed.clone(), Expr::value(true))?;
        let result = if entry.return_keys {
            Expr::col(row_key.clone())
        } else {
            Expr::cust("COUNT(*)")
        };
        let statement = WithClause::new()
            .cte(
                CommonTableExpression::new()
                    .table_name(changed.clone())
                    .column(row_key)
                    .query(update)
                    .to_owned(),
            )
            .cte(
                CommonTableExpression::new()
                    .table_name(Alias::new("journaled"))
                    .query(journal)
                    .to_owned(),
            )
            .to_owned()
            .query(Query::select().expr(result).from(changed).to_owned());
        let rows = txn.query_all(&statement).await?;
        if entry.return_keys {
            return Ok(Changed::Keys(rows));
        }
        let count = match rows.first() {
            Some(row) => row.try_get_by_index::<i64>(0)? as u64,
            None => 0,
        };
        Ok(Changed::Count(count))
    }

    async fn project_id_not_null(
        &self,
        _txn: &DatabaseTransaction,
        table: &str,
        not_null: bool,
    ) -> Result<Vec<String>, DbErr> {
        // PostgreSQL 12+ proves NOT NULL from a validated check without a scan.
        let change = if not_null { "SET" } else { "DROP" };
        Ok(vec![format!(
            "ALTER TABLE \"{table}\" ALTER COLUMN \"{}\" {change} NOT NULL",
            migration::PROJECT_ID_COLUMN
        )])
    }

    fn lift_project_id_guard(&self, table: &str) -> Vec<String> {
        vec![format!(
            "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{}\"",
            migration::project_id_check_name(table)
        )]
    }
}
