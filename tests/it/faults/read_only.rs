//! Databases the binary may only read: a read-only SQLite file, a PostgreSQL database
//! whose transactions are read-only, a MySQL user granted only SELECT.

use crate::support::Db;

use crate::support::*;

/// Everything a command could write, counted and dumped.
async fn everything(db: &Db) -> (Snapshot, Vec<i64>) {
    let mut counts = Vec::new();
    for table in [
        "tests",
        "bugs",
        "test_features",
        "backfill_runs",
        "backfill_anomalies",
        "backfill_journal",
    ] {
        counts.push(int(db, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    (snapshot(db).await, counts)
}

scenario!(refused on sqlite, postgres, mysql);
/// Each writing command on a database it may only read: exit 2, one sentence saying
/// read-only, nothing written.
async fn refused(backend: Backend) {
    let (tdb, db) = seeded(backend, "read_only").await;
    let before = everything(&db).await;
    let read_only_url = match backend {
        Backend::Sqlite => {
            db.close().await.ok();
            format!(
                "sqlite://{}?mode=ro",
                tdb.path.as_ref().expect("a file").display()
            )
        }
        Backend::Postgres => {
            let name = tdb.server_name().expect("a server database");
            exec(
                &db,
                &format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"),
            )
            .await;
            db.close().await.ok();
            tdb.url.clone()
        }
        Backend::Mysql => {
            // A user granted only SELECT (root ignores the server's read_only).
            let name = tdb.server_name().expect("a server database");
            let user = format!("ro_{}", &name[name.len().saturating_sub(20)..]);
            exec(&db, &format!("DROP USER IF EXISTS '{user}'@'%'")).await;
            exec(&db, &format!("CREATE USER '{user}'@'%'")).await;
            exec(&db, &format!("GRANT SELECT ON `{name}`.* TO '{user}'@'%'")).await;
            let mut url = url::Url::parse(&tdb.url).unwrap();
            url.set_username(&user).unwrap();
            url.to_string()
        }
    };
    for args in [
        vec!["backfill-features"],
        vec!["backfill-project-id", "--sleep", "0"],
        SEED.to_vec(),
    ] {
        let out = backfill_at(&read_only_url, &args)
            .output()
            .expect("run backfill");
        assert_eq!(code(&out), 2, "{args:?} on {backend:?}: {}", describe(&out));
        let sentence = one_sentence(&out);
        assert!(sentence.contains("read-only"), "{args:?}: {sentence}");
    }
    let db = tdb.connect().await;
    assert_eq!(everything(&db).await, before, "nothing was written");
    if backend == Backend::Mysql {
        let user = url::Url::parse(&read_only_url)
            .unwrap()
            .username()
            .to_string();
        exec(&db, &format!("DROP USER '{user}'@'%'")).await;
    }
    // (The database is dropped read-only as it is: DROP DATABASE runs from elsewhere.)
}
