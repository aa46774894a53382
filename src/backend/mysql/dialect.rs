//! MySQL's spelling: `SIGNED` integers, `BINARY(16)` uuids back to their text, arrays
//! as JSON, ids bound as one JSON array under `JSON_TABLE`, payloads matched as text
//! (text that is not JSON would make `JSON_EXTRACT` fail the query), `NOW(3)`.

use sea_orm::sea_query::{Alias, ColumnRef, Expr, ExprTrait, Func, Query, Value};

use super::Mysql;
use crate::backend::Dialect;
use crate::backend::sql::array_as_json;

impl Dialect for Mysql {
    fn bigint(&self, value: Expr) -> Expr {
        value.cast_as(Alias::new("SIGNED"))
    }

    fn uuid_as_text(&self, column: Expr) -> Expr {
        // BINARY(16) back to the hyphenated lower-case text: hyphens go in after the
        // 8th, 12th, 16th and 20th hex digit (counted in the text as it grows).
        let hex: Expr = Func::cust("HEX").arg(column).into();
        let text = [9, 14, 19, 24].into_iter().fold(hex, |text, at| {
            Func::cust("INSERT")
                .args([text, Expr::val(at), Expr::val(0), Expr::val("-")])
                .into()
        });
        Func::lower(text).into()
    }

    fn stored_value(&self, value: Value) -> Value {
        array_as_json(value)
    }

    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        Expr::col(column).in_subquery(
            Query::select()
                .column(Alias::new("id"))
                .from_function(
                    Func::cust(Alias::new("JSON_TABLE"))
                        .arg(list)
                        .arg(Expr::cust("'$[*]' COLUMNS (id BIGINT PATH '$')")),
                    Alias::new("ids"),
                )
                .to_owned(),
        )
    }

    fn lists_features(&self) -> &'static str {
        r#"(t.data REGEXP '"features"[[:space:]]*:[[:space:]]*\\[[[:space:]]*[^][:space:]]')"#
    }

    fn names_test_feature(&self) -> &'static str {
        r#"(b.raw_data REGEXP '"test_feature"[[:space:]]*:[[:space:]]*\\{')"#
    }

    fn clock_millis(&self) -> Expr {
        Expr::cust("CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)")
    }
}
