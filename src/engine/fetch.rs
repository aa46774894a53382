//! Reading a batch: the rows after a key (or only their bounds and sums) in a short
//! transaction of its own where the backend has lock waits to bound, then decoded once
//! that transaction has ended, so parsing payloads holds no snapshot.

use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::EngineSettings;
use super::job::{Batch, BatchJob, Reads};
use super::keyset;
use crate::backend::{Db, Dialect, Key, TableKey};

/// Reads and decodes the batch of at most `limit` rows after `after` (not past `upto`);
/// `None` when the walk is done.
pub(super) async fn fetch<J: BatchJob>(
    db: &Db,
    settings: &EngineSettings,
    job: &J,
    key: TableKey,
    limit: u64,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    let backend = db.backend();
    let read = if backend.reads_in_transaction() {
        let txn = db.begin_batch(settings.lock_timeout).await?;
        let read = read_batch(&txn, backend, limit, job, key, after, upto).await?;
        txn.commit().await?;
        read
    } else {
        read_batch(db, backend, limit, job, key, after, upto).await?
    };
    decode_batch(job, key, after, read)
}

/// A batch as the database returned it: its rows, or the one row of its bounds and the
/// number of sums in it.
enum ReadBatch {
    Rows(Vec<QueryResult>),
    Range(Option<QueryResult>, usize),
}

async fn read_batch<J: BatchJob>(
    conn: &impl ConnectionTrait,
    dialect: &dyn Dialect,
    limit: u64,
    job: &J,
    key: TableKey,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<ReadBatch, DbErr> {
    Ok(match job.reads() {
        Reads::Rows(columns) => ReadBatch::Rows(
            conn.query_all(&keyset::rows(key, dialect, columns, after, upto, limit))
                .await?,
        ),
        Reads::Range(sums) => {
            let wanted = sums.len();
            let bounds = keyset::bounds(key, dialect, sums, after, upto, limit);
            ReadBatch::Range(conn.query_one(&bounds).await?, wanted)
        }
    })
}

fn decode_batch<J: BatchJob>(
    job: &J,
    key: TableKey,
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
