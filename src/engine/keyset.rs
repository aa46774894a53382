//! The SQL of a batch's read: a primary-key range scan (`key > after AND key <= upto
//! ORDER BY key LIMIT n`, never OFFSET), with the same cost for the first batch and
//! the last; or the same scan aggregated in the database, one row per batch. A batch
//! of one shard adds the condition that keeps it there.

use sea_orm::sea_query::{Alias, Expr, Func, Order, Query, SelectStatement};

use crate::backend::{Dialect, Key, KeyKind, TableKey};

/// The name a batch's read gives its key column.
pub(super) const BATCH_KEY: &str = "batch_key";

/// The name a batch's read gives the `i`th of a job's sums, row by row.
pub(super) fn sum_column(i: usize) -> String {
    format!("batch_sum_{i}")
}

/// The keyset read of one batch of `key`'s table: the keys (as `batch_key`) of the next
/// `limit` rows after `after` (and not past `upto`), in key order; a job's columns
/// follow.
pub(super) fn rows(
    key: TableKey,
    dialect: &dyn Dialect,
    after: Option<&Key>,
    upto: Option<&Key>,
    limit: u64,
) -> SelectStatement {
    let mut query = Query::select();
    query
        .expr_as(key.selected(dialect), Alias::new(BATCH_KEY))
        .from(Alias::new(key.table))
        .order_by(key.order_column(), Order::Asc)
        .limit(limit);
    for condition in key.range(dialect, after, upto) {
        query.and_where(condition);
    }
    query
}

/// One batch without reading its rows: a single row holding the number of the rows
/// `scanned` reads (a `rows` read without columns), their last key, and the sum of
/// each of `sums` over them. The same primary-key range scan, aggregated in the
/// database.
pub(super) fn bounds(
    key: TableKey,
    dialect: &dyn Dialect,
    sums: Vec<Expr>,
    mut scanned: SelectStatement,
) -> SelectStatement {
    let batch_key = Expr::col(Alias::new(BATCH_KEY));
    let last = match key.kind {
        KeyKind::Uuid => dialect.max_uuid_text(batch_key),
        KeyKind::Integer => Func::max(batch_key).into(),
    };
    let mut batch = Query::select();
    batch.expr(Expr::cust("COUNT(*)")).expr(last);
    for (i, sum) in sums.into_iter().enumerate() {
        let column = Alias::new(sum_column(i));
        scanned.expr_as(sum, column.clone());
        batch.expr(dialect.bigint(Func::sum(Expr::col(column)).into()));
    }
    batch.from_subquery(scanned, Alias::new("batch")).to_owned()
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    use super::*;
    use crate::backend::{Postgres, Sqlite};

    const NODES: TableKey = TableKey {
        table: "nodes",
        column: "id",
        kind: KeyKind::Uuid,
    };

    #[test]
    fn a_batch_is_a_key_range_in_key_order_never_an_offset() {
        let after = Key::Int(5);
        let upto = Key::Int(9);
        let tests = TableKey {
            table: "tests",
            column: "id",
            kind: KeyKind::Integer,
        };
        let sql = rows(tests, &Sqlite, Some(&after), Some(&upto), 10).to_string(SqliteQueryBuilder);
        assert_eq!(
            sql,
            r#"SELECT CAST("id" AS BIGINT) AS "batch_key" FROM "tests" WHERE "id" > 5 AND "id" <= 9 ORDER BY "tests"."id" ASC LIMIT 10"#
        );
    }

    #[test]
    fn uuid_keys_are_text_and_compare_as_uuids() {
        let after = Key::Text("0e6f1d2c-8a4b-4c3d-9e8f-7a6b5c4d3e2f".into());
        let scanned = |dialect| rows(NODES, dialect, Some(&after), None, 100);
        let sqlite =
            bounds(NODES, &Sqlite, Vec::new(), scanned(&Sqlite)).to_string(SqliteQueryBuilder);
        assert!(
            sqlite.contains(r#""id" > '0e6f1d2c-8a4b-4c3d-9e8f-7a6b5c4d3e2f'"#),
            "{sqlite}"
        );
        assert!(sqlite.contains(r#"MAX("batch_key")"#), "{sqlite}");
        let postgres = bounds(NODES, &Postgres, Vec::new(), scanned(&Postgres))
            .to_string(PostgresQueryBuilder);
        assert!(postgres.contains(r#"CAST("id" AS TEXT)"#), "{postgres}");
        assert!(
            postgres.contains(r#"MAX("batch_key" COLLATE "C")"#),
            "{postgres}"
        );
    }
}
