//! Primary keys: a key's value (integers as they are, uuids as their hyphenated text),
//! and a table's key column, with the expressions that read it and bound a range of it.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Value};
use sea_orm::{DbErr, QueryResult};
use serde::{Deserialize, Serialize};

use super::Dialect;

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
    /// The key as a bound value of `kind` in `dialect`.
    pub fn to_value<D: Dialect + ?Sized>(&self, kind: KeyKind, dialect: &D) -> Value {
        match (self, kind) {
            (Key::Int(v), _) => Value::BigInt(Some(*v)),
            (Key::Text(text), KeyKind::Uuid) => match uuid::Uuid::parse_str(text) {
                Ok(uuid) => dialect.stored_value(Value::Uuid(Some(uuid))),
                Err(_) => Value::String(Some(text.clone())),
            },
            (Key::Text(text), KeyKind::Integer) => Value::String(Some(text.clone())),
        }
    }

    /// A key of `kind` as text stores it (`backfill_ranges`' bounds).
    pub fn parse(text: &str, kind: KeyKind) -> Option<Key> {
        match kind {
            KeyKind::Integer => text.parse().ok().map(Key::Int),
            KeyKind::Uuid => Some(Key::Text(text.to_string())),
        }
    }
}

/// The column a table is keyed (and walked) by, and the kind of its values.
#[derive(Debug, Clone, Copy)]
pub struct TableKey {
    pub table: &'static str,
    pub column: &'static str,
    pub kind: KeyKind,
}

impl TableKey {
    /// The key as selected: integers widened to BIGINT so SERIAL and BIGSERIAL keys read
    /// alike; uuids as their text.
    pub fn selected<D: Dialect + ?Sized>(&self, dialect: &D) -> Expr {
        let col = Expr::col(Alias::new(self.column));
        match self.kind {
            KeyKind::Integer => dialect.bigint(col),
            KeyKind::Uuid => dialect.uuid_as_text(col),
        }
    }

    /// The key column qualified by its table, to sort by. A bare `ORDER BY id` would
    /// name the selected `CAST(id AS BIGINT)` on PostgreSQL (an output column called
    /// `id`), which no index serves: every batch would scan and sort the whole table.
    pub fn order_column(&self) -> (Alias, Alias) {
        (Alias::new(self.table), Alias::new(self.column))
    }

    /// The key selected (by `selected`) at column `index`.
    pub fn read(&self, row: &QueryResult, index: usize) -> Result<Key, DbErr> {
        match self.kind {
            KeyKind::Integer => row.try_get_by_index::<i64>(index).map(Key::Int),
            KeyKind::Uuid => row.try_get_by_index::<String>(index).map(Key::Text),
        }
    }

    /// `key > after AND key <= upto`, the conditions of a key range.
    pub fn range<D: Dialect + ?Sized>(
        &self,
        dialect: &D,
        after: Option<&Key>,
        upto: Option<&Key>,
    ) -> Vec<Expr> {
        let col = || Expr::col(Alias::new(self.column));
        let mut conditions = Vec::new();
        if let Some(after) = after {
            conditions.push(col().gt(after.to_value(self.kind, dialect)));
        }
        if let Some(upto) = upto {
            conditions.push(col().lte(upto.to_value(self.kind, dialect)));
        }
        conditions
    }
}
