//! Isolating rows the database rejects. A rejected row is rare, and a savepoint costs
//! round trips on every batch, so a batch is first written directly; when the database
//! rejects a row, the batch is rolled back whole (PostgreSQL aborts the transaction
//! anyway) and written again here, under savepoints, split in halves until the rejected
//! rows stand alone. Each is noted as `row_rejected` with the database's message, and
//! every other row is kept.

use sea_orm::{DatabaseTransaction, DbErr, TransactionTrait};

use super::job::{BatchJob, Split, Written};
use crate::anomalies::{Anomaly, AnomalyKind};
use crate::backend::{Db, Failure, db_message};

/// Writes `writes` in `txn` of `db` under savepoints, bisecting on rejection (see the
/// module doc).
pub(super) async fn isolate<J: BatchJob>(
    db: &Db,
    job: &J,
    txn: &DatabaseTransaction,
    writes: Vec<J::Write>,
) -> Result<Written, DbErr> {
    let mut written = Written::default();
    let mut pending = vec![writes];
    while let Some(mut slice) = pending.pop() {
        if slice.is_empty() {
            continue;
        }
        let savepoint = txn.begin().await?;
        match job.write(&savepoint, &slice).await {
            Ok(done) => {
                savepoint.commit().await?;
                written.absorb(done);
            }
            Err(err) if db.classify(&err) != Failure::Rejected => return Err(err),
            Err(err) => {
                savepoint.rollback().await?;
                if slice.len() > 1 {
                    let right = slice.split_off(slice.len() / 2);
                    pending.push(right);
                    pending.push(slice);
                } else if let Some(single) = slice.pop() {
                    match job.split(txn, single).await? {
                        Split::Halves(left, right) => {
                            pending.push(vec![right]);
                            pending.push(vec![left]);
                        }
                        Split::Row(table, row_id) => written.anomalies.push(Anomaly {
                            table,
                            row_id,
                            kind: AnomalyKind::RowRejected,
                            description: db_message(&err),
                        }),
                    }
                }
            }
        }
    }
    Ok(written)
}
