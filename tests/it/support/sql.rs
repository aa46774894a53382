//! SQL written once for every backend and read back as plain values: a statement is
//! written for SQLite and PostgreSQL and [`dialect`] turns it into MySQL's.

use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Statement};

/// `sql`, written for SQLite and PostgreSQL, as MySQL spells it: `CAST(column AS
/// TEXT)` is `CAST(column AS CHAR)` (and `BIGINT` is `SIGNED`), a `BINARY(16)` uuid as
/// its hyphenated text (told apart from numbers and times, which MySQL also calls
/// binary, by its unprintable bytes).
pub fn dialect(db: &impl ConnectionTrait, sql: &str) -> String {
    if db.get_database_backend() != DatabaseBackend::MySql {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("CAST(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 5..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(after.len());
        let (name, tail) = after.split_at(name_len);
        match tail.strip_prefix(" AS TEXT)") {
            Some(tail) if !name.is_empty() => {
                out.push_str(&format!(
                    "IF(LENGTH({name}) = 16 AND {name} NOT REGEXP '^[ -~]*$', LOWER(INSERT(INSERT(INSERT(INSERT(HEX({name}), \
                     9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-')), CAST({name} AS CHAR))"
                ));
                rest = tail;
            }
            _ => {
                out.push_str("CAST(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace(" AS TEXT)", " AS CHAR)")
        .replace(" AS BIGINT)", " AS SIGNED)")
}

/// Every row `sql` (in [`dialect`]) returns.
async fn query(db: &impl ConnectionTrait, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        dialect(db, sql),
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Runs `sql` and returns the first column of every row as i64.
pub async fn ints(db: &impl ConnectionTrait, sql: &str) -> Vec<i64> {
    query(db, sql)
        .await
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0).expect("an integer"))
        .collect()
}

/// The single integer `sql` returns.
pub async fn int(db: &impl ConnectionTrait, sql: &str) -> i64 {
    ints(db, sql)
        .await
        .first()
        .copied()
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

/// Runs `sql` and returns the first column of every row as text (NULL as None).
pub async fn texts(db: &impl ConnectionTrait, sql: &str) -> Vec<Option<String>> {
    query(db, sql)
        .await
        .iter()
        .map(|r| r.try_get_by_index::<Option<String>>(0).expect("text"))
        .collect()
}

/// Every column of every row `sql` returns, read as text (the SQL casts).
pub async fn rows(db: &impl ConnectionTrait, sql: &str) -> Vec<Vec<Option<String>>> {
    query(db, sql)
        .await
        .iter()
        .map(|r| {
            (0..r.column_names().len())
                .map(|i| {
                    r.try_get_by_index::<Option<String>>(i)
                        .unwrap_or_else(|e| panic!("{sql} column {i}: {e}"))
                })
                .collect()
        })
        .collect()
}

/// Rows of a key (never NULL) and a value, read as text (NULL as None).
pub async fn pairs(db: &impl ConnectionTrait, sql: &str) -> Vec<(String, Option<String>)> {
    rows(db, sql)
        .await
        .into_iter()
        .map(|row| {
            let mut row = row.into_iter();
            let key = row
                .next()
                .flatten()
                .unwrap_or_else(|| panic!("{sql}: a key"));
            (key, row.next().expect("two columns"))
        })
        .collect()
}

/// Runs `sql` (in [`dialect`]), which must succeed.
pub async fn exec(db: &impl ConnectionTrait, sql: &str) {
    db.execute_unprepared(&dialect(db, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
