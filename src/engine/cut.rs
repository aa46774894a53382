//! Cutting a table's key space into ranges without reading the table: integer keys
//! from the database's histogram of the key (PostgreSQL's `pg_stats`) or else from
//! its smallest and largest key (two index lookups); random uuids evenly over their
//! 128 bits. The first range starts at the beginning and the last is open-ended, so
//! keys below the smallest or inserted past the largest during the run are covered.
//! Also where a range still large is cut in two for an idle worker.

use sea_orm::sea_query::{Alias, Expr, Func, FunctionCall, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::backend::{Backend, Db, Key, KeyKind, TableKey};

/// A range's end: none is the table's start (as a lower bound) or its end (upper).
pub type Bound = Option<Key>;

/// The keys that cut `key`'s table into `pieces` ranges of about as many rows each,
/// in order (fewer when the table has fewer keys; none for one piece).
pub async fn bounds(db: &Db, key: TableKey, pieces: u64) -> Result<Vec<Key>, DbErr> {
    if pieces <= 1 {
        return Ok(Vec::new());
    }
    if key.kind == KeyKind::Uuid {
        return Ok(uuid_bounds(pieces));
    }
    if let Some(histogram) = db.backend().key_histogram(db, key.table, key.column).await
        && histogram.len() > pieces as usize
    {
        return Ok(histogram_bounds(&histogram, pieces));
    }
    let (first, last) = int_key_edges(db, db.backend(), key, None, None).await?;
    Ok(match (first, last) {
        (Some(first), Some(last)) => int_bounds(first, last, pieces),
        _ => Vec::new(),
    })
}

/// The smallest and largest integer key of `key`'s table after `after` up to `upto`
/// (each end open when none): two index lookups. `None` for no such key.
async fn int_key_edges(
    conn: &impl ConnectionTrait,
    backend: &dyn Backend,
    key: TableKey,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<(Option<i64>, Option<i64>), DbErr> {
    let edge = |edge: FunctionCall| async {
        let mut query = Query::select();
        query
            .expr(backend.bigint(edge.into()))
            .from(Alias::new(key.table));
        for condition in key.range(backend, after, upto) {
            query.and_where(condition);
        }
        let row = conn.query_one(&query).await?;
        row.map_or(Ok(None), |row| row.try_get_by_index::<Option<i64>>(0))
    };
    let column = || Expr::col(Alias::new(key.column));
    Ok((
        edge(Func::min(column())).await?,
        edge(Func::max(column())).await?,
    ))
}

/// Where to cut the integer keys of `key` after `after` up to `upto` in two: the
/// middle of those there are, if they are at least `min_split` apart.
pub async fn int_midpoint(
    conn: &impl ConnectionTrait,
    backend: &dyn Backend,
    key: TableKey,
    after: Option<&Key>,
    upto: Option<&Key>,
    min_split: u64,
) -> Result<Option<Key>, DbErr> {
    Ok(
        match int_key_edges(conn, backend, key, after, upto).await? {
            (Some(first), Some(last)) => middle(first, last, min_split),
            _ => None,
        },
    )
}

/// `pieces - 1` keys evenly between `first` and `last`: each range holds about as many
/// of the keys `first..=last`.
fn int_bounds(first: i64, last: i64, pieces: u64) -> Vec<Key> {
    let span = i128::from(last) - i128::from(first) + 1;
    let pieces = i128::from(pieces).min(span);
    let mut bounds: Vec<Key> = (1..pieces)
        .map(|i| Key::Int((i128::from(first) - 1 + span * i / pieces) as i64))
        .collect();
    bounds.dedup();
    bounds
}

/// `pieces - 1` of the histogram's bounds, evenly spaced: each range holds about as
/// many rows, however the keys are spread.
fn histogram_bounds(histogram: &[i64], pieces: u64) -> Vec<Key> {
    let buckets = histogram.len() - 1;
    let mut bounds: Vec<Key> = (1..pieces as usize)
        .map(|i| Key::Int(histogram[buckets * i / pieces as usize]))
        .collect();
    bounds.dedup();
    bounds
}

/// `pieces - 1` uuids evenly over the 128 bits (random uuids spread evenly).
fn uuid_bounds(pieces: u64) -> Vec<Key> {
    let step = u128::MAX / u128::from(pieces);
    (1..u128::from(pieces))
        .map(|i| uuid_key(step * i))
        .collect()
}

fn uuid_key(value: u128) -> Key {
    Key::Text(uuid::Uuid::from_u128(value).hyphenated().to_string())
}

fn uuid_value(key: &Key) -> Option<u128> {
    match key {
        Key::Text(text) => uuid::Uuid::parse_str(text).ok().map(|uuid| uuid.as_u128()),
        Key::Int(_) => None,
    }
}

/// The middle of the integer keys `first..=last`, if they are at least `min_split` apart.
fn middle(first: i64, last: i64, min_split: u64) -> Option<Key> {
    let span = i128::from(last) - i128::from(first);
    (span >= i128::from(min_split)).then(|| Key::Int((i128::from(first) + span / 2) as i64))
}

/// The middle of the uuids after `after` up to `upto` (the whole space at either open
/// end), if the table's `rows` (an estimate) put at least `min_split` rows in it.
/// Without an estimate a span of less than 1/64 of the space is not split.
pub fn uuid_midpoint(
    after: Option<&Key>,
    upto: Option<&Key>,
    rows: Option<u64>,
    min_split: u64,
) -> Option<Key> {
    let first = after.map_or(Some(0), uuid_value)?;
    let last = upto.map_or(Some(u128::MAX), uuid_value)?;
    let span = last.checked_sub(first)?;
    let large = match rows {
        Some(rows) => (span as f64 / u128::MAX as f64) * rows as f64 >= min_split as f64,
        None => span >= u128::MAX / 64,
    };
    large.then(|| uuid_key(first + span / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_cut_evenly_and_never_past_the_keys_there_are() {
        assert_eq!(
            int_bounds(1, 100, 4),
            vec![Key::Int(25), Key::Int(50), Key::Int(75)]
        );
        // 3 rows, 8 pieces asked: one range per key, the last open-ended.
        assert_eq!(int_bounds(1, 3, 8), vec![Key::Int(1), Key::Int(2)]);
        assert_eq!(int_bounds(7, 7, 4), Vec::<Key>::new());
    }

    #[test]
    fn a_histogram_cuts_where_the_rows_are() {
        // Keys crowded near 0: equal-count buckets give narrow ranges there.
        let histogram = [1, 2, 4, 8, 16, 32, 64, 128, 256];
        assert_eq!(
            histogram_bounds(&histogram, 4),
            vec![Key::Int(4), Key::Int(16), Key::Int(64)]
        );
    }

    #[test]
    fn uuids_cut_evenly_and_split_in_the_middle() {
        let bounds = uuid_bounds(4);
        assert_eq!(bounds.len(), 3);
        assert_eq!(
            bounds[1],
            Key::Text("7fffffff-ffff-ffff-ffff-fffffffffffe".into())
        );
        let middle = uuid_midpoint(None, None, Some(1000), 10).unwrap();
        assert_eq!(
            middle,
            Key::Text("7fffffff-ffff-ffff-ffff-ffffffffffff".into())
        );
        // 1/1000 of the space of a table of 1,000 rows holds about one row.
        let narrow = uuid_key(u128::MAX / 1000);
        assert_eq!(uuid_midpoint(None, Some(&narrow), Some(1000), 10), None);
    }

    #[test]
    fn a_range_splits_only_while_large() {
        assert_eq!(middle(100, 300, 100), Some(Key::Int(200)));
        assert_eq!(middle(100, 150, 100), None);
    }
}
