//! Small pieces of SQL more than one database builds from: quoted column lists,
//! arrays stored as JSON text, and a scratch database created beside the given one.

use anyhow::{Context, Result};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::Value;

use super::Db;

/// `"a", "b", …` for column names (ours, never user input).
pub(super) fn quoted_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as a database without array types stores it: an array as its JSON text.
pub(super) fn array_as_json(value: Value) -> Value {
    fn json(value: Value) -> serde_json::Value {
        match value {
            Value::Uuid(Some(u)) => serde_json::Value::String(u.hyphenated().to_string()),
            Value::Int(Some(v)) => v.into(),
            Value::BigInt(Some(v)) => v.into(),
            Value::Float(Some(v)) => v.into(),
            Value::Double(Some(v)) => v.into(),
            Value::String(Some(v)) => v.into(),
            Value::Bool(Some(v)) => v.into(),
            _ => serde_json::Value::Null,
        }
    }
    match value {
        Value::Array(_, Some(items)) => Value::String(Some(
            serde_json::Value::Array(items.into_iter().map(json).collect()).to_string(),
        )),
        Value::Array(_, None) => Value::String(None),
        other => other,
    }
}

/// Creates the database `name` on the server `db` is connected to and connects to it
/// (its URL with the path replaced): the scratch database of a server. The name is
/// ours (digits and underscores), never user input; `needs` says what privilege
/// creating it takes.
pub(super) async fn create_database_beside(db: &Db, name: &str, needs: &str) -> Result<Db> {
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .with_context(|| {
            format!("could not create a scratch database beside the given one ({needs})")
        })?;
    super::connect(&db.url().beside(name)?, &db.settings()).await
}
