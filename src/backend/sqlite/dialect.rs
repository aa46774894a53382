//! SQLite's spelling: uuids already stored as text, arrays as JSON text, ids bound as
//! one JSON array under `json_each`, TEXT read as bytes (it may hold any), JSON1
//! predicates, and the clock from `julianday`.

use sea_orm::sea_query::{Alias, ColumnRef, Expr, ExprTrait, Func, Query, Value};
use sea_orm::{DbErr, QueryResult};

use super::Sqlite;
use crate::backend::Dialect;
use crate::backend::sql::array_as_json;

impl Dialect for Sqlite {
    fn uuid_as_text(&self, column: Expr) -> Expr {
        // Stored as its hyphenated text already.
        column
    }

    fn stored_value(&self, value: Value) -> Value {
        match value {
            Value::Uuid(uuid) => Value::String(uuid.map(|u| u.hyphenated().to_string())),
            other => array_as_json(other),
        }
    }

    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let each = Query::select()
            .column(Alias::new("value"))
            .from_function(
                Func::cust(Alias::new("json_each")).arg(list),
                Alias::new("ids"),
            )
            .to_owned();
        Expr::col(column).in_subquery(each)
    }

    fn text_as_read(&self, column: Expr) -> Expr {
        column.cast_as(Alias::new("BLOB"))
    }

    fn read_text(&self, row: &QueryResult, index: usize) -> Result<Option<Vec<u8>>, DbErr> {
        row.try_get_by_index::<Option<Vec<u8>>>(index)
    }

    fn maybe_not_utf8(&self, column: &str) -> Option<Expr> {
        // TEXT takes any bytes. GLOB reads a stray byte as U+FFFD, outside ' '..'~'.
        Some(Expr::cust(format!("(\"{column}\" GLOB '*[^ -~]*')")))
    }

    fn lists_features(&self) -> &'static str {
        "(json_valid(t.data) AND COALESCE(json_array_length(t.data, '$.features'), \
         json_array_length(t.data, '$.exploratory_test.features'), 0) > 0)"
    }

    fn names_test_feature(&self) -> &'static str {
        "(json_valid(b.raw_data) AND json_type(b.raw_data, '$.test_feature') IS 'object')"
    }

    fn clock_millis(&self) -> Expr {
        Expr::cust("CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)")
    }

    fn walks_uuid_tables_by_rowid(&self) -> bool {
        true
    }
}
