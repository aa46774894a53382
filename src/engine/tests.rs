//! The engine against a small fake job on a real SQLite file: a table of items whose
//! job adds 1 to each row's `value`, a trigger standing for rows the database rejects,
//! and ids the job reports "locked" (a transient error) for a number of tries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult, RuntimeErr, sqlx};

use super::*;
use crate::backend::{self, ConnectSettings, DatabaseUrl, Db, Key, KeyKind, TableKey};

const ITEMS: TableKey = TableKey {
    table: "items",
    column: "id",
    kind: KeyKind::Integer,
};

struct AddOne {
    /// Tries left in which a write touching the id fails as "locked".
    locked: Mutex<HashMap<i64, u32>>,
}

impl AddOne {
    fn new(locked: &[(i64, u32)]) -> Self {
        Self {
            locked: Mutex::new(locked.iter().copied().collect()),
        }
    }
}

fn transient() -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::PoolTimedOut.into()))
}

impl BatchJob for AddOne {
    type Row = ();
    type Write = i64;

    fn reads(&self) -> Reads {
        Reads::Rows(Vec::new())
    }

    fn decode(&self, _row: &QueryResult) -> Result<(), DbErr> {
        Ok(())
    }

    async fn plan(
        &self,
        _txn: &DatabaseTransaction,
        batch: Batch<()>,
        _plan: &mut BatchPlan,
    ) -> Result<Vec<i64>, DbErr> {
        Ok(batch
            .rows
            .into_iter()
            .map(|(key, ())| match key {
                Key::Int(id) => id,
                Key::Text(_) => unreachable!("items have integer keys"),
            })
            .collect())
    }

    async fn write(&self, txn: &DatabaseTransaction, ids: &[i64]) -> Result<Written, DbErr> {
        {
            let mut locked = self.locked.lock().unwrap();
            let busy = ids
                .iter()
                .find(|id| locked.get(id).is_some_and(|left| *left > 0));
            if let Some(left) = busy.and_then(|id| locked.get_mut(id)) {
                *left -= 1;
                return Err(transient());
            }
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        txn.execute_unprepared(&format!(
            "UPDATE items SET value = value + 1 WHERE id IN ({list})"
        ))
        .await?;
        Ok(Written {
            updated: ids.len() as u64,
            ..Written::default()
        })
    }

    async fn split(&self, _txn: &DatabaseTransaction, id: i64) -> Result<Split<i64>, DbErr> {
        Ok(Split::Row("items", id.to_string()))
    }
}

/// A checkpoint kept in memory.
#[derive(Default)]
struct Store(Checkpoint);

#[async_trait]
impl CheckpointStore for Store {
    fn run_id(&self) -> i64 {
        1
    }

    fn checkpoint(&self) -> Checkpoint {
        self.0.clone()
    }

    async fn save(
        &mut self,
        _txn: &DatabaseTransaction,
        checkpoint: Checkpoint,
    ) -> Result<Saved, DbErr> {
        self.0 = checkpoint;
        Ok(Saved::Kept)
    }
}

/// A migrated SQLite file with `items` 1..=n, the `rejected` ids refused on update.
async fn items(n: i64, rejected: &[i64]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("engine.db").display()
    ));
    let db = backend::connect(&url, &ConnectSettings::default())
        .await
        .unwrap();
    Migrator::up(db.connection(), None).await.unwrap();
    db.execute_unprepared(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0, bad INTEGER NOT NULL DEFAULT 0);
         CREATE TRIGGER refuse_bad BEFORE UPDATE ON items WHEN OLD.bad = 1
         BEGIN SELECT RAISE(ABORT, 'this row may not change'); END;",
    )
    .await
    .unwrap();
    for id in 1..=n {
        let bad = i64::from(rejected.contains(&id));
        db.execute_unprepared(&format!("INSERT INTO items (id, bad) VALUES ({id}, {bad})"))
            .await
            .unwrap();
    }
    (dir, db)
}

fn settings(batch_size: u64) -> EngineSettings {
    EngineSettings {
        retry: RetryPolicy {
            attempts: 3,
            first_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(2),
        },
        ..EngineSettings::with_batch_size(batch_size)
    }
}

/// The rows of a two-column query.
async fn pairs<A, B>(db: &Db, sql: &str) -> Vec<(A, B)>
where
    A: sea_orm::TryGetable,
    B: sea_orm::TryGetable,
{
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get_by_index(0).unwrap(),
            row.try_get_by_index(1).unwrap(),
        )
    })
    .collect()
}

async fn values(db: &Db) -> Vec<(i64, i64)> {
    pairs(db, "SELECT id, value FROM items ORDER BY id").await
}

async fn anomalies(db: &Db) -> Vec<(String, String)> {
    pairs(
        db,
        "SELECT kind, row_id FROM backfill_anomalies ORDER BY kind, row_id",
    )
    .await
}

#[tokio::test]
async fn bisection_isolates_exactly_the_rejected_rows() {
    let rejected = [3, 17, 18, 40];
    let (_dir, db) = items(50, &rejected).await;
    let mut store = Store::default();
    let mut walker = KeysetWalker::new(&db, settings(20), Some(&mut store), Cancel::default());
    let report = walker.run(&AddOne::new(&[]), ITEMS, "items").await.unwrap();
    assert_eq!(report.counters.processed, 50);
    assert_eq!(report.counters.updated, 46);
    assert_eq!(report.counters.rejected, 4);
    for (id, value) in values(&db).await {
        assert_eq!(value, i64::from(!rejected.contains(&id)), "item {id}");
    }
    let mut logged: Vec<(String, String)> = rejected
        .iter()
        .map(|id| ("row_rejected".to_string(), id.to_string()))
        .collect();
    logged.sort();
    assert_eq!(anomalies(&db).await, logged);
}

#[tokio::test]
async fn a_busy_batch_is_retried_then_deferred_and_finished_later() {
    let (_dir, db) = items(30, &[]).await;
    // Item 5 stays locked through the first batch's three tries and the later pass's
    // first; item 25 is free after one failed try.
    let job = AddOne::new(&[(5, 4), (25, 1)]);
    let mut store = Store::default();
    let mut walker = KeysetWalker::new(&db, settings(10), Some(&mut store), Cancel::default());
    let report = walker.run(&job, ITEMS, "items").await.unwrap();
    assert_eq!(
        report.counters.updated, 30,
        "every row once, deferred ones included"
    );
    assert!(values(&db).await.iter().all(|(_, value)| *value == 1));
    assert!(anomalies(&db).await.is_empty());
    assert!(store.checkpoint().done);
}

#[tokio::test]
async fn a_range_locked_through_every_pass_is_logged_not_lost() {
    let (_dir, db) = items(30, &[]).await;
    let job = AddOne::new(&[(15, u32::MAX)]);
    let mut store = Store::default();
    let mut walker = KeysetWalker::new(&db, settings(10), Some(&mut store), Cancel::default());
    let report = walker.run(&job, ITEMS, "items").await.unwrap();
    assert_eq!(report.counters.updated, 20);
    assert_eq!(report.counters.errors, 1);
    let untouched: Vec<i64> = values(&db)
        .await
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(untouched, (11..=20).collect::<Vec<_>>());
    assert_eq!(
        anomalies(&db).await,
        vec![("lock_timeout".to_string(), "10..=20".to_string())]
    );
}

#[tokio::test]
async fn a_cancelled_walk_resumes_from_its_checkpoint() {
    let (_dir, db) = items(45, &[]).await;
    let mut store = Store::default();
    let cancel = Cancel::default();
    cancel.cancel();
    let mut walker = KeysetWalker::new(&db, settings(10), Some(&mut store), cancel);
    let stopped = walker.run(&AddOne::new(&[]), ITEMS, "items").await.unwrap();
    assert!(stopped.stopped, "the walk says it was stopped");
    assert_eq!(stopped.counters.processed, 0);
    let checkpoint = store.checkpoint();
    assert_eq!(checkpoint.after, None, "stopped before its first batch");

    let mut walker = KeysetWalker::new(&db, settings(10), Some(&mut store), Cancel::default());
    let report = walker.run(&AddOne::new(&[]), ITEMS, "items").await.unwrap();
    assert!(!report.stopped);
    assert_eq!(report.counters.processed, 45, "the counters carry over");
    assert_eq!(report.counters.batches, 5);
    assert!(
        values(&db).await.iter().all(|(_, value)| *value == 1),
        "no row twice"
    );
}

#[tokio::test]
async fn a_dry_run_counts_exactly_and_keeps_nothing() {
    let (_dir, db) = items(25, &[7]).await;
    let dry = EngineSettings {
        dry_run: true,
        ..settings(10)
    };
    let mut walker = KeysetWalker::new(&db, dry, None, Cancel::default());
    let report = walker.run(&AddOne::new(&[]), ITEMS, "items").await.unwrap();
    assert_eq!((report.counters.updated, report.counters.rejected), (24, 1));
    assert!(values(&db).await.iter().all(|(_, value)| *value == 0));
    assert!(anomalies(&db).await.is_empty());
}
