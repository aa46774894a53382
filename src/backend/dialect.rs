//! How a database spells what the tool's SQL needs beyond the common ground: integer
//! and uuid keys as read, values as stored, a bound list of ids, payload text as read,
//! JSON predicates, the clock leases are kept on.

use sea_orm::sea_query::{Alias, ColumnRef, Expr, ExprTrait, Func, Value};
use sea_orm::{DbErr, QueryResult};

use super::{Key, TableKey};

/// The database's spelling of the expressions that differ between databases.
pub trait Dialect: Send + Sync {
    /// `value` as a 64-bit integer (SERIAL and BIGSERIAL keys read alike; a SUM reads
    /// as an integer).
    fn bigint(&self, value: Expr) -> Expr {
        value.cast_as(Alias::new("BIGINT"))
    }

    /// A uuid key as selected, so that it reads back as its hyphenated text.
    fn uuid_as_text(&self, column: Expr) -> Expr;

    /// The greatest of the uuid texts `column`, ordered as the uuids are.
    fn max_uuid_text(&self, column: Expr) -> Expr {
        Func::max(column).into()
    }

    /// A value as this database stores it (SQLite keeps uuids and arrays as text).
    fn stored_value(&self, value: Value) -> Value;

    /// `column IN (ids)` with the whole list bound as one value: one prepared statement
    /// serves every batch, whatever its size, and never meets the bind limits.
    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr;

    /// `key IN (keys)`, integers or uuids: beside a key range, what a cluster routes a
    /// statement by, to the shard those keys are in.
    fn in_key_list(&self, key: TableKey, keys: &[Key]) -> Expr {
        Expr::col(Alias::new(key.column)).is_in(keys.iter().map(|k| k.to_value(key.kind, self)))
    }

    /// A text column as the backfills read it: as bytes where TEXT may hold bytes that
    /// are not UTF-8 (reading such a value as a string would fail its whole batch).
    /// Where the server refuses text that is not valid in its encoding, as it is.
    fn text_as_read(&self, column: Expr) -> Expr {
        column
    }

    /// Reads a column selected with [`Dialect::text_as_read`].
    fn read_text(&self, row: &QueryResult, index: usize) -> Result<Option<Vec<u8>>, DbErr> {
        Ok(row
            .try_get_by_index::<Option<String>>(index)?
            .map(String::into_bytes))
    }

    /// Rows whose text `column` may not be valid UTF-8, for a closer look (`None` where
    /// text is always valid UTF-8). Any value outside printable ASCII qualifies.
    fn maybe_not_utf8(&self, _column: &str) -> Option<Expr> {
        None
    }

    /// SQL predicate over `tests t`: the payload lists at least one feature.
    fn lists_features(&self) -> &'static str;

    /// SQL predicate over `bugs b`: the payload names a test feature.
    fn names_test_feature(&self) -> &'static str;

    /// The database's clock now, in milliseconds since 1970 (BIGINT): leases are kept
    /// on it, so workers on hosts whose clocks differ still agree.
    fn clock_millis(&self) -> Expr;

    /// Whether tables keyed by uuid are walked in `rowid` order (their physical
    /// order: in uuid order a batch would touch a different page for nearly every row).
    fn walks_uuid_tables_by_rowid(&self) -> bool {
        false
    }
}
