//! Reading a batch: the rows after a key (or only their bounds and sums) in a short
//! transaction of its own where the backend has lock waits to bound, then decoded once
//! that transaction has ended, so parsing payloads holds no snapshot.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::EngineSettings;
use super::job::{Batch, BatchJob, Reads};
use super::walk::{Key, TableWalk};
use crate::backend::{self, Backend};

/// Reads and decodes the batch of at most `limit` rows after `after` (not past `upto`);
/// `None` when the walk is done.
pub(super) async fn fetch<J: BatchJob>(
    db: &DatabaseConnection,
    settings: &EngineSettings,
    job: &J,
    walk: TableWalk,
    limit: u64,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    let backend = backend::of(db);
    let read = if backend.reads_in_transaction() {
        let txn = backend::begin_batch(db, settings.lock_timeout).await?;
        let read = read_batch(&txn, backend, limit, job, walk, after, upto).await?;
        txn.commit().await?;
        read
    } else {
        read_batch(db, backend, limit, job, walk, after, upto).await?
    };
    decode_batch(job, walk, backend, after, read)
}

/// A batch as the database returned it: its rows, or the one row of its bounds and the
/// number of sums in it.
enum ReadBatch {
    Rows(Vec<QueryResult>),
    Range(Option<QueryResult>, usize),
}

async fn read_batch<J: BatchJob>(
    conn: &impl ConnectionTrait,
    backend: &dyn Backend,
    limit: u64,
    job: &J,
    walk: TableWalk,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<ReadBatch, DbErr> {
    Ok(match job.reads(backend) {
        Reads::Rows(columns) => ReadBatch::Rows(
            conn.query_all(&walk.select(backend, columns, after, upto, limit))
                .await?,
        ),
        Reads::Range(sums) => {
            let wanted = sums.len();
            let bounds = walk.bounds(backend, sums, after, upto, limit);
            ReadBatch::Range(conn.query_one(&bounds).await?, wanted)
        }
    })
}

fn decode_batch<J: BatchJob>(
    job: &J,
    walk: TableWalk,
    backend: &dyn Backend,
    after: Option<&Key>,
    read: ReadBatch,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    let batch = |upto, count, rows, sums| Batch {
        number: 0,
        after: after.cloned(),
        upto,
        count,
        rows,
        sums,
    };
    Ok(match read {
        ReadBatch::Rows(rows) => {
            let mut decoded = Vec::with_capacity(rows.len());
            for row in &rows {
                decoded.push((walk.read_key(row)?, job.decode(row, backend)?));
            }
            let last = decoded.last().map(|(key, _)| key.clone());
            last.map(|upto| batch(upto, decoded.len() as u64, decoded, Vec::new()))
        }
        ReadBatch::Range(row, wanted) => {
            let count: i64 = row.as_ref().map_or(Ok(0), |r| r.try_get_by_index(0))?;
            match row.filter(|_| count > 0) {
                Some(row) => Some(batch(
                    walk.read_key_at(&row, 1)?,
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
