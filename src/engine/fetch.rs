//! Reading a batch: the rows after a key (or only their bounds and sums) in a short
//! transaction of its own where the backend has lock waits to bound, then decoded once
//! that transaction has ended, so parsing payloads holds no snapshot. A batch of one
//! shard is read on the node holding the shard: its keys, and the sums a job asks for;
//! the rows a job reads are then read, and any batch later written, by those keys,
//! which the cluster sends to that shard alone.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::EngineSettings;
use super::job::{Batch, BatchJob, Reads};
use super::keyset::{self, BATCH_KEY, sum_column};
use super::state::Span;
use crate::backend::{Db, Dialect, Key, KeyKind, SHARD_TABLE, TableKey};

/// Reads and decodes the batch of at most `limit` rows of `span`; `None` when the walk
/// is done.
pub(super) async fn fetch<J: BatchJob>(
    db: &Db,
    settings: &EngineSettings,
    job: &J,
    key: TableKey,
    limit: u64,
    span: Span<'_>,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    let backend = db.backend();
    let mut scanned = keyset::rows(key, backend, span.after, span.upto, limit);
    let mut on_shard = None;
    if let Some(shard) = span.shard {
        match read_on_shard(db, job, key, shard, span, limit).await? {
            None => return Ok(None),
            Some(OnShard::Batch(batch)) => return Ok(Some(batch)),
            Some(OnShard::Keys(keys)) => {
                scanned.and_where(Expr::clone(&keys));
                on_shard = Some(keys);
            }
        }
    }
    let read = if backend.reads_in_transaction() {
        let txn = db.begin_batch(settings.lock_timeout).await?;
        let read = read_batch(&txn, backend, job, key, scanned).await?;
        txn.commit().await?;
        read
    } else {
        read_batch(db, backend, job, key, scanned).await?
    };
    decode_batch(job, key, span.after, on_shard, read)
}

/// What the read of a batch on its shard's node found.
enum OnShard<R> {
    /// The whole batch, for a job that reads only the range and its sums.
    Batch(Batch<R>),
    /// The condition that selects the batch's rows by their keys, for a job that reads
    /// the rows themselves.
    Keys(Arc<Expr>),
}

/// Reads the keys of the batch of `span` on the node holding `shard`, with the sums
/// `job` asks for; `None` when the shard has no more.
async fn read_on_shard<J: BatchJob>(
    db: &Db,
    job: &J,
    key: TableKey,
    shard: i64,
    span: Span<'_>,
    limit: u64,
) -> Result<Option<OnShard<J::Row>>, DbErr> {
    let backend = db.backend();
    let shard_table = TableKey {
        table: SHARD_TABLE,
        ..key
    };
    let mut read = keyset::rows(shard_table, backend, span.after, span.upto, limit);
    let sums = match job.reads() {
        Reads::Range(sums) => Some(sums),
        Reads::Rows(_) => None,
    };
    for (i, sum) in sums.iter().flatten().enumerate() {
        read.expr_as(sum.clone(), Alias::new(sum_column(i)));
    }
    let sum_columns: Vec<String> = (0..sums.as_ref().map_or(0, Vec::len))
        .map(sum_column)
        .collect();
    let found = backend
        .read_on_shard(db, shard, read, BATCH_KEY, &sum_columns)
        .await?;
    let keys = found
        .keys
        .iter()
        .map(|value| json_key(key.kind, value))
        .collect::<Result<Vec<Key>, DbErr>>()?;
    let Some(upto) = keys.iter().max().cloned() else {
        return Ok(None);
    };
    let on_shard = Arc::new(backend.in_key_list(key, &keys));
    if sums.is_none() {
        return Ok(Some(OnShard::Keys(on_shard)));
    }
    Ok(Some(OnShard::Batch(Batch {
        number: 0,
        after: span.after.cloned(),
        upto,
        on_shard: Some(on_shard),
        count: keys.len() as u64,
        rows: Vec::new(),
        sums: found
            .sums
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
    })))
}

/// A key read on a shard.
fn json_key(kind: KeyKind, value: &serde_json::Value) -> Result<Key, DbErr> {
    let key = match kind {
        KeyKind::Integer => value.as_i64().map(Key::Int),
        KeyKind::Uuid => value.as_str().map(|text| Key::Text(text.to_string())),
    };
    key.ok_or_else(|| DbErr::Custom(format!("a shard returned {value} for a key")))
}

/// A batch as the database returned it: its rows, or the one row of its bounds and the
/// number of sums in it.
enum ReadBatch {
    Rows(Vec<QueryResult>),
    Range(Option<QueryResult>, usize),
}

/// Reads the batch `scanned` selects the keys of (`keyset::rows` without columns).
async fn read_batch<J: BatchJob>(
    conn: &impl ConnectionTrait,
    dialect: &dyn Dialect,
    job: &J,
    key: TableKey,
    mut scanned: SelectStatement,
) -> Result<ReadBatch, DbErr> {
    Ok(match job.reads() {
        Reads::Rows(columns) => ReadBatch::Rows(conn.query_all(&*scanned.exprs(columns)).await?),
        Reads::Range(sums) => {
            let wanted = sums.len();
            let bounds = keyset::bounds(key, dialect, sums, scanned);
            ReadBatch::Range(conn.query_one(&bounds).await?, wanted)
        }
    })
}

fn decode_batch<J: BatchJob>(
    job: &J,
    key: TableKey,
    after: Option<&Key>,
    on_shard: Option<Arc<Expr>>,
    read: ReadBatch,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    let batch = |upto, count, rows, sums| Batch {
        number: 0,
        after: after.cloned(),
        upto,
        on_shard: on_shard.clone(),
        count,
        rows,
        sums,
    };
    Ok(match read {
        ReadBatch::Rows(rows) => {
            let mut decoded = Vec::with_capacity(rows.len());
            for row in &rows {
                decoded.push((key.read(row, 0)?, job.decode(row)?));
            }
            let last = decoded.last().map(|(key, _)| key.clone());
            last.map(|upto| batch(upto, decoded.len() as u64, decoded, Vec::new()))
        }
        ReadBatch::Range(row, wanted) => {
            let count: i64 = row.as_ref().map_or(Ok(0), |r| r.try_get_by_index(0))?;
            match row.filter(|_| count > 0) {
                Some(row) => Some(batch(
                    key.read(&row, 1)?,
                    count as u64,
                    Vec::new(),
                    (0..wanted)
                        .map(|i| row.try_get_by_index::<i64>(2 + i))
                        .collect::<Result<Vec<i64>, DbErr>>()?,
                )),
                None => None,
            }
        }
    })
}
