//! PostgreSQL's spelling: uuids cast to text and compared under the "C" collation, ids
//! bound as one `bigint[]` under `= ANY`, payloads matched as text (text that is not
//! JSON cannot be cast without failing the query), `clock_timestamp()`.

use sea_orm::sea_query::{Alias, ColumnRef, Expr, ExprTrait, PgFunc, Value};

use super::Postgres;
use crate::backend::{Dialect, Key, KeyKind, TableKey};

impl Dialect for Postgres {
    fn uuid_as_text(&self, column: Expr) -> Expr {
        column.cast_as(Alias::new("TEXT"))
    }

    fn max_uuid_text(&self, column: Expr) -> Expr {
        // No max(uuid); the text of a uuid compares bytewise, as the uuid itself does,
        // under the "C" collation.
        Expr::cust_with_expr("MAX($1 COLLATE \"C\")", column)
    }

    fn stored_value(&self, value: Value) -> Value {
        value
    }

    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr {
        Expr::col(column).eq(PgFunc::any(Expr::val(ids.to_vec())))
    }

    fn in_key_list(&self, key: TableKey, keys: &[Key]) -> Expr {
        // One bound array, integers or uuids: Citus routes `= ANY` by the values in it.
        let list: Value = match key.kind {
            KeyKind::Integer => keys
                .iter()
                .filter_map(|key| match key {
                    Key::Int(value) => Some(*value),
                    Key::Text(_) => None,
                })
                .collect::<Vec<i64>>()
                .into(),
            KeyKind::Uuid => keys
                .iter()
                .filter_map(|key| match key {
                    Key::Text(text) => uuid::Uuid::parse_str(text).ok(),
                    Key::Int(_) => None,
                })
                .collect::<Vec<uuid::Uuid>>()
                .into(),
        };
        Expr::col(Alias::new(key.column)).eq(PgFunc::any(Expr::val(list)))
    }

    fn lists_features(&self) -> &'static str {
        r#"(t.data ~ '"features"\s*:\s*\[\s*[^]\s]')"#
    }

    fn names_test_feature(&self) -> &'static str {
        r#"(b.raw_data ~ '"test_feature"\s*:\s*\{')"#
    }

    fn clock_millis(&self) -> Expr {
        // `clock_timestamp()`, not `now()`: that is the transaction's start, and a
        // lease checked at a batch's commit must be checked against the time then.
        Expr::cust("CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")
    }
}
