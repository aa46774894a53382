//! PostgreSQL with Citus (SPEC §5.13), on a throwaway cluster of the test's own: a
//! coordinator and two workers made with `initdb` (as the `postgres` user) in a
//! temporary directory, on free ports, removed afterwards; Citus itself is built from
//! the vendored source by `scripts/ensure-citus.sh`. The memory tables are
//! distributed by `id` and the analytics tables made reference tables, as a team
//! would by hand; both jobs must then end exactly as on plain PostgreSQL, and the
//! settings and health checks that bound a batch must reach the worker nodes.

use std::path::Path;
use std::time::Duration;

use migration::MEMORY_TABLES;

use crate::support::*;

/// Shards per distributed table: fewer than Citus's 32, for quicker tests.
const SHARDS: u32 = 8;

/// A coordinator and two workers, stopped and removed on drop.
struct Cluster {
    servers: ScratchServers,
    coordinator: u16,
    workers: [u16; 2],
}

impl Cluster {
    fn start() -> Self {
        let installed = Path::new("/usr/lib/postgresql")
            .read_dir()
            .expect("PostgreSQL's programs in /usr/lib/postgresql")
            .filter_map(Result::ok)
            .any(|version| version.path().join("lib/citus.so").exists());
        assert!(
            installed,
            "Citus is not installed: scripts/test.sh builds it with scripts/ensure-citus.sh"
        );
        let settings = format!(
            "shared_preload_libraries = 'citus'\nmax_prepared_transactions = 50\ncitus.shard_count = {SHARDS}\n"
        );
        let mut servers = ScratchServers::new();
        let coordinator = servers.init("coordinator", &settings);
        let workers = [
            servers.init("worker1", &settings),
            servers.init("worker2", &settings),
        ];
        Self {
            servers,
            coordinator,
            workers,
        }
    }

    /// A new database `name` on every node, with Citus, the workers added to the
    /// coordinator's: the coordinator's database.
    async fn database(&self, name: &str) -> TestDb {
        for port in [self.coordinator, self.workers[0], self.workers[1]] {
            let admin = single_connection(&ScratchServers::url(port, "postgres")).await;
            exec(&admin, &format!("CREATE DATABASE {name}")).await;
            admin.close().await.ok();
            let db = single_connection(&ScratchServers::url(port, name)).await;
            exec(&db, "CREATE EXTENSION citus").await;
            db.close().await.ok();
        }
        let tdb = TestDb::on_scratch_server(ScratchServers::url(self.coordinator, name));
        let db = single_connection(&tdb.url).await;
        exec(
            &db,
            &format!(
                "SELECT citus_set_coordinator_host('127.0.0.1', {})",
                self.coordinator
            ),
        )
        .await;
        for port in self.workers {
            exec(&db, &format!("SELECT citus_add_node('127.0.0.1', {port})")).await;
        }
        db.close().await.ok();
        tdb
    }

    /// The URL of `name` on the worker at `port`, to reach a shard directly.
    fn on_worker(port: u16, name: &str) -> String {
        ScratchServers::url(port, name)
    }
}

/// Migrated with the memory tables distributed by `id` (`migrate up --distribute`,
/// which must drop exactly the six keys Citus cannot hold on them, and name them), the
/// analytics tables made reference tables by hand, and seeded with the dataset plain
/// PostgreSQL's runs start from.
async fn laid_out_and_seeded(tdb: &TestDb) -> Db {
    let (code, migrated) = tdb.run_json(&["migrate", "up", "--distribute"]);
    assert_eq!(code, 0, "migrate up --distribute on Citus: {migrated}");
    let distributed = migrated["distributed"]
        .as_array()
        .expect("the tables distributed");
    let mut tables: Vec<&str> = distributed
        .iter()
        .filter_map(|t| t["table"].as_str())
        .collect();
    tables.sort_unstable();
    let mut memory_tables = MEMORY_TABLES.to_vec();
    memory_tables.sort_unstable();
    assert_eq!(tables, memory_tables, "every memory table distributed");
    let mut dropped: Vec<&str> = distributed
        .iter()
        .flat_map(|t| t["dropped_keys"].as_array().into_iter().flatten())
        .filter_map(|key| key.as_str())
        .collect();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        [
            "fk_edges_source_id",
            "fk_edges_target_id",
            "fk_l2_insight_history_insight_id",
            "fk_nodes_vector_id",
            "uq_edges_source_id_target_id_relation",
            "uq_nodes_label_name",
        ],
        "the keys Citus cannot hold on tables distributed by id, and only those"
    );
    let db = tdb.connect().await;
    for table in ["tests", "test_features", "bugs"] {
        exec(&db, &format!("SELECT create_reference_table('{table}')")).await;
    }
    let out = tdb.cli_json(SEED);
    assert_exit(&out, 0, "seed on Citus");
    db
}

/// Every `project_id` of `working_memory` is set.
async fn assert_working_memory_filled(db: &Db) {
    let nulls = int(
        db,
        "SELECT count(*) FROM working_memory WHERE project_id IS NULL",
    )
    .await;
    assert_eq!(nulls, 0, "NULL project_ids left in working_memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Each job on Citus ends where it ends on plain PostgreSQL (rows, open anomalies,
/// journal, exit code), and its rollback restores the seeded data exactly.
async fn both_jobs_end_as_on_plain_postgres() {
    let cluster = Cluster::start();
    for (job, name) in [(Job::Features, "features"), (Job::ProjectId, "project_id")] {
        let context = format!("{job:?} on Citus");
        let want = baseline(Backend::Postgres, job).await;
        let tdb = cluster.database(name).await;
        let db = laid_out_and_seeded(&tdb).await;
        let seeded = snapshot(&db).await;
        let out = tdb.cli_json(&job.fast_args(false));
        assert!(matches!(code(&out), 0 | 1), "{context}: {}", describe(&out));
        let got = outcome(&db, code(&out)).await;
        assert_outcome(&got, &want, &context);

        let undone = tdb.cli_json(&[job.command(), "--rollback"]);
        assert_exit(&undone, 0, &format!("{context}: rollback"));
        assert_same(
            &snapshot(&db).await,
            &seeded,
            &format!("{context}, rolled back"),
        );
        db.close().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Both jobs with two workers end on Citus where they end on plain PostgreSQL (rows,
/// open anomalies, journal), and `validate` then reads the same; `migrate check` passes
/// there: the keys Citus cannot hold on a distributed table (a unique key without the
/// distribution column, a foreign key between distributed tables off it) are no drift.
async fn two_workers_validate_and_migrate_check_as_on_plain_postgres() {
    let cluster = Cluster::start();
    let on_citus = cluster.database("validated").await;
    let db = laid_out_and_seeded(&on_citus).await;
    let (check_exit, checked) = on_citus.run_json(&["migrate", "check"]);
    assert_eq!(check_exit, 0, "migrate check on Citus: {checked}");
    assert!(
        checked["scratch_steps"]
            .as_array()
            .is_some_and(|steps| steps
                .iter()
                .any(|step| step == "distribute as this database: ok")),
        "the scratch database is a cluster, laid out as the checked one: {checked}"
    );
    for port in [cluster.coordinator, cluster.workers[0], cluster.workers[1]] {
        let node = single_connection(&ScratchServers::url(port, "postgres")).await;
        let left = int(
            &node,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'backfill_check_%'",
        )
        .await;
        assert_eq!(left, 0, "no scratch database left on the node at {port}");
        node.close().await.ok();
    }
    let (plain, plain_db) = seeded(Backend::Postgres, "citus_validate").await;
    let mut ends = Vec::new();
    for (tdb, db) in [(&on_citus, &db), (&plain, &plain_db)] {
        let mut exits = Vec::new();
        for job in [Job::Features, Job::ProjectId] {
            let out = tdb.cli_json(&[&job.fast_args(false)[..], &["--workers", "2"]].concat());
            assert!(matches!(code(&out), 0 | 1), "{job:?}: {}", describe(&out));
            exits.push(code(&out));
        }
        let got = outcome(db, exits[1]).await;
        ends.push((got, exits, tdb.run_json(&["validate"])));
    }
    let (citus, postgres) = (&ends[0], &ends[1]);
    assert_outcome(&citus.0, &postgres.0, "two workers on Citus");
    assert_eq!(citus.1, postgres.1, "the jobs' exit codes");
    assert_eq!(citus.2, postgres.2, "validate on Citus, then on PostgreSQL");
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A row lock held directly on a worker's shard: the batch gives up after the run's
/// lock timeout and retries, as on plain PostgreSQL, instead of waiting on the worker
/// for as long as the lock is held (Citus does not send a `SET LOCAL` to the workers
/// unless told to).
async fn a_row_lock_on_a_worker_times_the_batch_out() {
    let cluster = Cluster::start();
    let tdb = cluster.database("worker_lock").await;
    let db = laid_out_and_seeded(&tdb).await;
    let shard = rows(
        &db,
        "SELECT w.id::text, s.shard_name::text, s.nodeport::text \
         FROM (SELECT id, get_shard_id_for_distribution_column('working_memory', id) AS shardid \
               FROM working_memory WHERE project_id IS NULL ORDER BY id LIMIT 1) w \
         JOIN citus_shards s ON s.shardid = w.shardid",
    )
    .await;
    let [id, shard_name, port] = [0, 1, 2].map(|i| shard[0][i].clone().expect("a shard"));
    let worker = single_connection(&Cluster::on_worker(
        port.parse().expect("a port"),
        "worker_lock",
    ))
    .await;
    exec(&worker, "BEGIN").await;
    exec(
        &worker,
        &format!("SELECT id FROM {shard_name} WHERE id = {id} FOR UPDATE"),
    )
    .await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        exec(&worker, "COMMIT").await;
    });

    let mut run = tdb.json_command(&[
        "-v",
        "backfill-project-id",
        "--table",
        "working_memory",
        "--lock-timeout",
        "0.2",
        "--batch-size",
        "10",
        "--sleep",
        "0",
    ]);
    let out = tokio::task::spawn_blocking(move || run.output().expect("run backfill"))
        .await
        .expect("the CLI thread");
    release.await.expect("the lock holder");
    assert_exit(&out, 0, "a run meeting a row lock on a worker");
    assert!(
        stderr(&out).contains("waited too long for locks"),
        "the batch timed out on the worker and was retried: {}",
        describe(&out)
    );
    assert_working_memory_filled(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// The health checks see the cluster: a distributed table's row estimate is its
/// shards' summed (the coordinator's own copy is empty), and an application session
/// waiting on a lock counts wherever it waits, while a waiting session of the tool's
/// own does not.
async fn estimates_and_lock_waits_cover_the_cluster() {
    let cluster = Cluster::start();
    let tdb = cluster.database("cluster_health").await;
    let db = laid_out_and_seeded(&tdb).await;
    exec(&db, "ANALYZE nodes").await;
    assert_eq!(row_estimate(&db, "nodes").await, Some(200));
    exec(&db, "ANALYZE backfill_runs").await;
    assert_eq!(
        row_estimate(&db, "backfill_runs").await,
        Some(0),
        "a table of the coordinator's own"
    );

    let holder = single_connection(&tdb.url).await;
    exec(&holder, "BEGIN").await;
    exec(
        &holder,
        "UPDATE nodes SET label = label WHERE project_id IS NOT NULL",
    )
    .await;
    assert_eq!(lock_waiters(&db, "nodes").await, 0, "nobody waits yet");
    let ours = single_connection(&format!("{}?application_name=backfill", tdb.url)).await;
    let our_wait = tokio::spawn(async move {
        exec(
            &ours,
            "UPDATE nodes SET label = label WHERE project_id IS NOT NULL",
        )
        .await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        lock_waiters(&db, "nodes").await,
        0,
        "the tool's own session waits"
    );
    let app = single_connection(&tdb.url).await;
    let app_wait = tokio::spawn(async move {
        exec(
            &app,
            "UPDATE nodes SET label = label WHERE project_id IS NOT NULL",
        )
        .await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        lock_waiters(&db, "nodes").await >= 1,
        "an application session waits on a worker"
    );
    exec(&holder, "COMMIT").await;
    our_wait.await.expect("the tool's session");
    app_wait.await.expect("the application's session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A worker process killed (-9) mid-run on Citus: its range is taken over once its
/// lease runs out, and the run ends as an uninterrupted run on plain PostgreSQL does.
async fn a_killed_worker_is_taken_over() {
    let want = baseline(Backend::Postgres, Job::ProjectId).await;
    let cluster = Cluster::start();
    let tdb = cluster.database("killed_worker").await;
    let db = laid_out_and_seeded(&tdb).await;
    crate::workers::assert_a_killed_worker_is_taken_over(
        &tdb,
        &db,
        &want,
        "Citus, a worker killed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// `--workers 2` on a table distributed by its key: a range per shard, and the two
/// workers walk two shards at once, as `runs --run ID` shows them; neither batch waits
/// on the other's shard locks (a batch over a key range alone would lock every shard,
/// and the other worker's batch would time out on its 0.3 s lock timeout).
async fn two_workers_walk_two_shards_at_once() {
    let cluster = Cluster::start();
    let tdb = cluster.database("two_shards").await;
    let db = laid_out_and_seeded(&tdb).await;
    let mut child = tdb.spawn_json(&[
        "-v",
        "backfill-project-id",
        "--table",
        "working_memory",
        "--workers",
        "2",
        "--batch-size",
        "2",
        "--sleep",
        "0.05",
        "--lock-timeout",
        "0.3",
    ]);
    let run = crate::workers::started_run(&db, &mut child)
        .await
        .to_string();
    let mut shards_at_once = Vec::new();
    let mut shards_cut = 0;
    while child.try_wait().expect("poll the run").is_none() && shards_at_once.len() < 2 {
        let (_, view) = tdb.run_json(&["runs", "--run", &run]);
        let ranges = view["runs"][0]["ranges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        shards_cut = ranges
            .iter()
            .filter(|range| range["checkpoint"]["shard"].is_i64())
            .count();
        shards_at_once = ranges
            .iter()
            .filter(|range| range["worker"].is_string() && range["done"] == false)
            .filter_map(|range| range["checkpoint"]["shard"].as_i64())
            .collect();
        shards_at_once.sort_unstable();
        shards_at_once.dedup();
    }
    let out = child.wait_with_output().expect("wait for the run");
    assert_exit(&out, 0, "two workers on a distributed table");
    assert_eq!(shards_cut, SHARDS as usize, "a range per shard");
    assert_eq!(
        shards_at_once.len(),
        2,
        "two workers held two shards at once: {}",
        describe(&out)
    );
    assert!(
        !stderr(&out).contains("waited too long for locks"),
        "no batch waited on the other worker's shard: {}",
        describe(&out)
    );
    assert_working_memory_filled(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// The features job over `tests` and `bugs` distributed by `id`: its rows are read a
/// shard at a time (the keys on the shard's node, then the rows by those keys), and it
/// ends as on plain PostgreSQL.
async fn features_read_rows_a_shard_at_a_time() {
    let want = baseline(Backend::Postgres, Job::Features).await;
    let cluster = Cluster::start();
    let tdb = cluster.database("features_by_id").await;
    assert_exit(
        &tdb.cli(&["migrate", "up", "--distribute"]),
        0,
        "migrate up --distribute",
    );
    let db = tdb.connect().await;
    for statement in [
        // Keys a distributed `tests` cannot be the target of, off the distribution column.
        "ALTER TABLE test_features DROP CONSTRAINT fk_test_features_test_id",
        "ALTER TABLE bugs DROP CONSTRAINT fk_bugs_test_id",
        "SELECT create_reference_table('test_features')",
        "SELECT create_distributed_table('tests', 'id')",
        "SELECT create_distributed_table('bugs', 'id')",
    ] {
        exec(&db, statement).await;
    }
    assert_exit(&tdb.cli_json(SEED), 0, "seed on Citus");
    let out = tdb.cli_json(&[&Job::Features.fast_args(false)[..], &["--workers", "2"]].concat());
    assert_eq!(code(&out), want.code, "{}", describe(&out));
    let got = outcome(&db, code(&out)).await;
    assert_outcome(&got, &want, "features on tests and bugs distributed by id");
    let shards = int(
        &db,
        "SELECT count(DISTINCT checkpoint::jsonb -> 'shard') FROM backfill_ranges \
         WHERE unit IN ('test_features', 'bugs')",
    )
    .await;
    assert_eq!(
        shards,
        i64::from(SHARDS) * 2,
        "a range per shard of each table"
    );
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A standby of a worker node, its replay paused: the run holds on its lag as on a
/// standby of plain PostgreSQL (the coordinator's `pg_stat_replication` shows no
/// worker's standby), and goes on once it replays.
async fn a_paused_standby_of_a_worker_holds_the_run() {
    let mut cluster = Cluster::start();
    let standby_port = cluster.servers.standby_of("standby1", cluster.workers[0]);
    let tdb = cluster.database("worker_standby").await;
    let db = laid_out_and_seeded(&tdb).await;
    let standby = single_connection(&ScratchServers::url(standby_port, "postgres")).await;
    exec(&standby, "SELECT pg_wal_replay_pause()").await;

    let mut child = crate::runs::spawn_lag_watching_fill(&tdb.url, &["--sleep", "0.02"]);
    crate::runs::wait_until_held(&tdb.url, "replication lag", &mut child).await;
    exec(&standby, "SELECT pg_wal_replay_resume()").await;
    crate::runs::assert_goes_on_and_fills(child, &db, "the worker's standby replays").await;
    standby.close().await.ok();
    db.close().await.ok();
}
