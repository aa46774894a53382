//! Keys and walks: a table walked by its primary key, and the SQL of one batch's read,
//! a primary-key range scan with the same cost for the first batch and the last.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, Value};
use sea_orm::{DbErr, QueryResult};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;

/// A primary-key value: integers as they are, uuids as their hyphenated text (the form
/// SQLite stores; PostgreSQL gets a uuid back from `to_value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Int(v) => write!(f, "{v}"),
            Key::Text(v) => f.write_str(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Integer,
    Uuid,
}

impl Key {
    /// The key as a bound value of `kind` on `backend`.
    pub fn to_value(&self, kind: KeyKind, backend: &dyn Backend) -> Value {
        match (self, kind) {
            (Key::Int(v), _) => Value::BigInt(Some(*v)),
            (Key::Text(text), KeyKind::Uuid) => match uuid::Uuid::parse_str(text) {
                Ok(uuid) => backend.stored_value(Value::Uuid(Some(uuid))),
                Err(_) => Value::String(Some(text.clone())),
            },
            (Key::Text(text), KeyKind::Integer) => Value::String(Some(text.clone())),
        }
    }
}

/// The name a batch's read gives its key column.
const BATCH_KEY: &str = "batch_key";

/// A table walked by its primary key.
#[derive(Debug, Clone, Copy)]
pub struct TableWalk {
    pub table: &'static str,
    pub key: &'static str,
    pub kind: KeyKind,
}

impl TableWalk {
    /// The key as selected: integers widened to BIGINT so SERIAL and BIGSERIAL keys read
    /// alike; uuids as their text.
    pub fn key_expr(&self, backend: &dyn Backend) -> Expr {
        let col = Expr::col(Alias::new(self.key));
        match self.kind {
            KeyKind::Integer => backend.bigint(col),
            KeyKind::Uuid => backend.uuid_as_text(col),
        }
    }

    /// The key column qualified by its table, to sort by. A bare `ORDER BY id` would
    /// name the selected `CAST(id AS BIGINT)` on PostgreSQL (an output column called
    /// `id`), which no index serves: every batch would scan and sort the whole table.
    pub fn order_column(&self) -> (Alias, Alias) {
        (Alias::new(self.table), Alias::new(self.key))
    }

    pub fn read_key(&self, row: &QueryResult) -> Result<Key, DbErr> {
        self.read_key_at(row, 0)
    }

    /// The key selected (by `key_expr`) at column `index`.
    pub fn read_key_at(&self, row: &QueryResult, index: usize) -> Result<Key, DbErr> {
        match self.kind {
            KeyKind::Integer => row.try_get_by_index::<i64>(index).map(Key::Int),
            KeyKind::Uuid => row.try_get_by_index::<String>(index).map(Key::Text),
        }
    }

    /// `key > after AND key <= upto`, the range condition of a batch.
    pub fn range(
        &self,
        backend: &dyn Backend,
        after: Option<&Key>,
        upto: Option<&Key>,
    ) -> Vec<Expr> {
        let col = || Expr::col(Alias::new(self.key));
        let mut conditions = Vec::new();
        if let Some(after) = after {
            conditions.push(col().gt(after.to_value(self.kind, backend)));
        }
        if let Some(upto) = upto {
            conditions.push(col().lte(upto.to_value(self.kind, backend)));
        }
        conditions
    }

    /// The keyset read of one batch: the next `limit` rows after `after` (and not past
    /// `upto`), in key order, the key first (as `batch_key`).
    pub(super) fn select(
        &self,
        backend: &dyn Backend,
        columns: Vec<Expr>,
        after: Option<&Key>,
        upto: Option<&Key>,
        limit: u64,
    ) -> SelectStatement {
        let mut query = Query::select();
        query
            .expr_as(self.key_expr(backend), Alias::new(BATCH_KEY))
            .exprs(columns)
            .from(Alias::new(self.table))
            .order_by(self.order_column(), Order::Asc)
            .limit(limit);
        for condition in self.range(backend, after, upto) {
            query.and_where(condition);
        }
        query
    }

    /// One batch without reading its rows: a single row holding the number of the next
    /// `limit` rows after `after`, their last key, and the sum of each of `sums` over
    /// them. The same primary-key range scan as `select`, aggregated in the database.
    pub(super) fn bounds(
        &self,
        backend: &dyn Backend,
        sums: Vec<Expr>,
        after: Option<&Key>,
        upto: Option<&Key>,
        limit: u64,
    ) -> SelectStatement {
        let key = Expr::col(Alias::new(BATCH_KEY));
        let mut rows = self.select(backend, Vec::new(), after, upto, limit);
        let last = match self.kind {
            KeyKind::Uuid => backend.max_uuid_text(key),
            KeyKind::Integer => Func::max(key).into(),
        };
        let mut batch = Query::select();
        batch.expr(Expr::cust("COUNT(*)")).expr(last);
        for (i, sum) in sums.into_iter().enumerate() {
            let column = Alias::new(format!("batch_sum_{i}"));
            rows.expr_as(sum, column.clone());
            batch.expr(backend.bigint(Func::sum(Expr::col(column)).into()));
        }
        batch.from_subquery(rows, Alias::new("batch")).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    use super::*;
    use crate::backend::{Postgres, Sqlite};

    const NODES: TableWalk = TableWalk {
        table: "nodes",
        key: "id",
        kind: KeyKind::Uuid,
    };

    #[test]
    fn a_batch_is_a_key_range_in_key_order_never_an_offset() {
        let after = Key::Int(5);
        let upto = Key::Int(9);
        let walk = TableWalk {
            table: "tests",
            key: "id",
            kind: KeyKind::Integer,
        };
        let sql = walk
            .select(&Sqlite, Vec::new(), Some(&after), Some(&upto), 10)
            .to_string(SqliteQueryBuilder);
        assert_eq!(
            sql,
            r#"SELECT CAST("id" AS BIGINT) AS "batch_key" FROM "tests" WHERE "id" > 5 AND "id" <= 9 ORDER BY "tests"."id" ASC LIMIT 10"#
        );
    }

    #[test]
    fn uuid_keys_are_text_and_compare_as_uuids() {
        let after = Key::Text("0e6f1d2c-8a4b-4c3d-9e8f-7a6b5c4d3e2f".into());
        let sqlite = NODES
            .bounds(&Sqlite, Vec::new(), Some(&after), None, 100)
            .to_string(SqliteQueryBuilder);
        assert!(
            sqlite.contains(r#""id" > '0e6f1d2c-8a4b-4c3d-9e8f-7a6b5c4d3e2f'"#),
            "{sqlite}"
        );
        assert!(sqlite.contains(r#"MAX("batch_key")"#), "{sqlite}");
        let postgres = NODES
            .bounds(&Postgres, Vec::new(), Some(&after), None, 100)
            .to_string(PostgresQueryBuilder);
        assert!(postgres.contains(r#"CAST("id" AS TEXT)"#), "{postgres}");
        assert!(
            postgres.contains(r#"MAX("batch_key" COLLATE "C")"#),
            "{postgres}"
        );
    }
}
