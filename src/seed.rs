//! `seed`: a realistic synthetic dataset, the same for the same `--seed`, with chosen
//! fractions of the imperfections the backfills must cope with. Rows are generated a
//! chunk at a time, encoded beside the database's work and written with `COPY`
//! (PostgreSQL) or multi-row INSERTs (SQLite), so memory stays flat.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, TimeZone, Utc};
use entity::{
    bugs, edges, episode_memory, ground_truth, ief_feedback, l0_raw, l2_insight_history,
    l2_insights, nodes, smf_proposals, stale_memory, tests, working_memory,
};
use migration::MEMORY_TABLES;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityName, EntityTrait, IdenStatic, Iterable, Statement, TransactionTrait,
};
use serde::Serialize;
use serde_json::json;

use crate::cli::SeedArgs;
use crate::db;
use crate::error::UsageError;

/// Feature ids at and above this never exist: bugs naming them dangle.
const MISSING_FEATURE_BASE: i64 = 1_000_000_000_000;
const ALIASES: [&str; 6] = ["io:", "I/O", "ethr", "default", "", "  "];

/// Where the generator stands in the sequences the imperfections are drawn from.
#[derive(Debug, Default)]
struct Cursor {
    feature: u64,
    bug: u64,
}

/// The payload shapes the API writes, serialized straight from structs.
#[derive(Serialize)]
#[serde(untagged)]
enum SeedPayload {
    Flat { features: Vec<SeedFeature> },
    Envelope { exploratory_test: SeedEnvelope },
}

#[derive(Serialize)]
struct SeedEnvelope {
    id: i64,
    features: Vec<SeedFeature>,
}

#[derive(Serialize)]
struct SeedFeature {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    feature_id: i64,
    title: String,
    description: String,
    howtofind: &'static str,
    user_stories: [&'static str; 2],
    enable_default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_visual: Option<bool>,
}

#[derive(Serialize)]
struct SeedBug {
    id: i64,
    title: String,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_feature: Option<SeedBugFeature>,
}

#[derive(Serialize)]
struct SeedBugFeature {
    id: i64,
    title: &'static str,
}

#[derive(Debug, Serialize)]
pub struct SeedSummary {
    pub seed: u64,
    pub tests: u64,
    pub bugs: u64,
    pub memory_rows_per_table: u64,
}

/// Deterministic imperfections: item `i` falls in category `k` when the low-discrepancy
/// (golden-ratio) sequence at `i` lands in the k-th segment of [0, 1), whose lengths are
/// the chosen fractions. Each fraction holds within a handful of items at any size, the
/// categories never overlap, and the choice is the same for the same seed.
#[derive(Debug, Clone)]
struct Mix {
    fractions: Vec<f64>,
    phase: f64,
}

impl Mix {
    fn new(fractions: &[f64], rng: &mut SmallRng) -> Self {
        Self {
            fractions: fractions.to_vec(),
            phase: rng.random::<f64>(),
        }
    }

    fn pick(&self, index: u64) -> Option<usize> {
        let at = (self.phase + index as f64 * 0.618_033_988_749_894_9).fract();
        let mut edge = 0.0;
        for (category, fraction) in self.fractions.iter().enumerate() {
            edge += fraction;
            if at < edge {
                return Some(category);
            }
        }
        None
    }

    fn picks(&self, index: u64) -> bool {
        self.pick(index).is_some()
    }
}

pub async fn run(db: &DatabaseConnection, args: &SeedArgs) -> Result<SeedSummary> {
    for (name, fraction) in [
        ("--malformed-json", args.malformed_json),
        ("--features-without-id", args.features_without_id),
        ("--bugs-without-feature", args.bugs_without_feature),
        ("--bugs-missing-feature", args.bugs_missing_feature),
        ("--bugs-foreign-feature", args.bugs_foreign_feature),
        ("--null-project-id", args.null_project_id),
        ("--alias-project-id", args.alias_project_id),
    ] {
        if !(0.0..=1.0).contains(&fraction) {
            bail!(UsageError::new(format!(
                "{name} must be a fraction between 0 and 1 (got {fraction})"
            )));
        }
    }
    if args.bugs_without_feature + args.bugs_missing_feature + args.bugs_foreign_feature > 1.0 {
        bail!(UsageError::new(
            "the bug imperfection fractions add up to more than 1"
        ));
    }
    if args.customers == 0 {
        bail!(UsageError::new("--customers must be at least 1"));
    }
    let mut required = vec!["tests", "bugs", "test_features"];
    required.extend(MEMORY_TABLES);
    db::require_tables(db, &required).await?;
    for table in &required {
        if has_rows(db, table).await? {
            bail!(UsageError::new(format!(
                "table `{table}` already has rows: seed writes into an empty database (`backfill migrate fresh` empties one, dropping its data)"
            )));
        }
    }
    let mut rng = SmallRng::seed_from_u64(args.seed);
    let seeder = Seeder::new(args, &mut rng);
    let mut rng = seeder.tests_and_bugs(db, rng).await?;
    seeder.memory(db, &mut rng).await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // The chunks committed without waiting for their WAL flush (see `load`). A
        // synchronous commit flushes the WAL up to its own record, so theirs too: once
        // this returns, the seed survives a crash of the server.
        db.execute_unprepared("SELECT txid_current()")
            .await
            .context("could not flush the seeded rows to disk")?;
    }
    Ok(SeedSummary {
        seed: args.seed,
        tests: args.tests,
        bugs: args.tests * args.bugs_per_test as u64,
        memory_rows_per_table: args.memory_rows,
    })
}

async fn has_rows(db: &impl ConnectionTrait, table: &str) -> Result<bool> {
    let query = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new(table))
        .limit(1)
        .to_owned();
    Ok(db
        .query_one(&query)
        .await
        .with_context(|| format!("could not read `{table}`"))?
        .is_some())
}

#[derive(Clone)]
struct Seeder {
    args: SeedArgs,
    epoch: DateTime<FixedOffset>,
    malformed: Mix,
    no_feature_id: Mix,
    /// No test feature, a missing one, a foreign one.
    bug_flaw: Mix,
    /// NULL, a legacy alias.
    legacy_project: Mix,
}

impl Seeder {
    fn new(args: &SeedArgs, rng: &mut SmallRng) -> Self {
        Self {
            args: args.clone(),
            epoch: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default()
                .fixed_offset(),
            malformed: Mix::new(&[args.malformed_json], rng),
            no_feature_id: Mix::new(&[args.features_without_id], rng),
            bug_flaw: Mix::new(
                &[
                    args.bugs_without_feature,
                    args.bugs_missing_feature,
                    args.bugs_foreign_feature,
                ],
                rng,
            ),
            legacy_project: Mix::new(&[args.null_project_id, args.alias_project_id], rng),
        }
    }

    fn at(&self, rng: &mut SmallRng) -> DateTime<FixedOffset> {
        self.epoch + ChronoDuration::seconds(rng.random_range(0..31_536_000))
    }

    /// Consecutive tests belong to different customers, so "the next test's feature"
    /// is always a foreign one.
    fn customer_of(&self, test_id: i64) -> i64 {
        1 + test_id % self.args.customers as i64
    }

    fn feature_id(&self, test_id: i64, index: u32) -> i64 {
        (test_id - 1) * self.args.features_per_test as i64 + index as i64 + 1
    }

    /// Generates tests and bugs on a thread of their own while this task writes the
    /// previous chunk: generation and the database's work overlap.
    async fn tests_and_bugs(&self, db: &DatabaseConnection, rng: SmallRng) -> Result<SmallRng> {
        let (sender, mut chunks) = tokio::sync::mpsc::channel(2);
        let generator = self.clone();
        let backend = db.get_database_backend();
        let producer = std::thread::spawn(move || {
            let mut rng = rng;
            let mut cursor = Cursor::default();
            let per_chunk = (generator.args.chunk as u64).max(1);
            let mut first = 1u64;
            while first <= generator.args.tests {
                let last = (first + per_chunk - 1).min(generator.args.tests);
                let (test_rows, bug_rows) =
                    generator.tests_chunk(first, last, &mut rng, &mut cursor);
                let encoded = encode(backend, test_rows)
                    .and_then(|tests| Ok((tests, encode(backend, bug_rows)?)));
                if sender.blocking_send(encoded).is_err() {
                    break;
                }
                first = last + 1;
            }
            rng
        });
        // On PostgreSQL a chunk's bugs are copied on a second connection while the next
        // chunk's tests are: two server processes load at once. (Bugs follow their
        // tests, which their foreign key needs.) SQLite has one writer: in turn there.
        let overlap = backend == DatabaseBackend::Postgres;
        let mut bugs_due = None;
        while let Some(encoded) = chunks.recv().await {
            let (test_rows, bug_rows) = encoded?;
            let earlier_bugs = load(db, bugs_due.take());
            if overlap {
                let (tests_done, bugs_done) = tokio::join!(load(db, test_rows), earlier_bugs);
                tests_done?;
                bugs_done?;
            } else {
                earlier_bugs.await?;
                load(db, test_rows).await?;
            }
            bugs_due = bug_rows;
        }
        load(db, bugs_due).await?;
        producer
            .join()
            .map_err(|_| anyhow::anyhow!("BUG: the seed generator thread panicked"))
    }

    fn tests_chunk(
        &self,
        first: u64,
        last: u64,
        rng: &mut SmallRng,
        cursor: &mut Cursor,
    ) -> (Vec<tests::ActiveModel>, Vec<bugs::ActiveModel>) {
        let args = &self.args;
        let mut test_rows = Vec::with_capacity((last - first + 1) as usize);
        let mut bug_rows = Vec::with_capacity(test_rows.capacity() * args.bugs_per_test as usize);
        for id in first as i64..=last as i64 {
            let customer_id = self.customer_of(id);
            let features: Vec<SeedFeature> = (0..args.features_per_test)
                .map(|j| {
                    let feature = SeedFeature {
                        id: Some(self.feature_id(id, j))
                            .filter(|_| !self.no_feature_id.picks(cursor.feature)),
                        feature_id: rng.random_range(1..5000),
                        title: format!("Feature {} of test {id}", j + 1),
                        description: format!("What feature {} covers", j + 1),
                        howtofind: "Main menu",
                        user_stories: ["As a user I can log in", "As a user I can log out"],
                        enable_default: rng.random_bool(0.5),
                        enable_visual: rng.random_bool(0.5).then_some(true),
                    };
                    cursor.feature += 1;
                    feature
                })
                .collect();
            let payload = if rng.random_bool(0.5) {
                SeedPayload::Flat { features }
            } else {
                SeedPayload::Envelope {
                    exploratory_test: SeedEnvelope { id, features },
                }
            };
            let mut data = serde_json::to_string(&payload).unwrap_or_default();
            if self.malformed.picks((id - 1) as u64) {
                data.truncate(data.len() / 2);
            }
            test_rows.push(tests::ActiveModel {
                id: Set(id),
                customer_id: Set(customer_id),
                product_id: Set(rng.random_range(1..200)),
                data: Set(data),
                status: Set(["archived", "running", "locked"][rng.random_range(0..3)].to_string()),
                title: Set(Some(format!("Exploratory test {id}"))),
                testing_type: Set(Some("rapid".into())),
                start_at: Set(Some(self.at(rng))),
                end_at: Set(None),
                synced_at: Set(Some(self.epoch)),
            });
            for k in 0..args.bugs_per_test {
                let bug_id = (id - 1) * args.bugs_per_test as i64 + k as i64 + 1;
                let own_feature = self.feature_id(id, k % args.features_per_test.max(1));
                let feature = match self.bug_flaw.pick(cursor.bug) {
                    _ if args.features_per_test == 0 => None,
                    None => Some(own_feature),
                    Some(0) => None,
                    Some(1) => Some(MISSING_FEATURE_BASE + bug_id),
                    Some(_) => {
                        // The same feature slot of the next test (another customer).
                        let next = if id as u64 == args.tests {
                            1.max(id - 1)
                        } else {
                            id + 1
                        };
                        Some(self.feature_id(next, 0))
                    }
                };
                cursor.bug += 1;
                let raw = SeedBug {
                    id: bug_id,
                    title: format!("Bug {bug_id}"),
                    severity: "high",
                    test_feature: feature.map(|id| SeedBugFeature {
                        id,
                        title: "Feature",
                    }),
                };
                bug_rows.push(bugs::ActiveModel {
                    id: Set(bug_id),
                    customer_id: Set(customer_id),
                    test_id: Set(id),
                    title: Set(raw.title.clone()),
                    severity: Set(Some("high".into())),
                    status: Set(Some("accepted".into())),
                    known: Set(false),
                    reported_at: Set(Some(self.at(rng))),
                    raw_data: Set(serde_json::to_string(&raw).unwrap_or_default()),
                    synced_at: Set(Some(self.epoch)),
                    test_feature_id: Set(None),
                });
            }
        }
        (test_rows, bug_rows)
    }

    fn project_id(&self, index: u64, rng: &mut SmallRng) -> Option<String> {
        match self.legacy_project.pick(index) {
            Some(0) => None,
            Some(_) => Some(ALIASES[index as usize % ALIASES.len()].to_string()),
            None if rng.random_bool(0.1) => Some("aurora".into()),
            None => Some("io".into()),
        }
    }

    async fn memory(&self, db: &DatabaseConnection, rng: &mut SmallRng) -> Result<()> {
        let n = self.args.memory_rows;
        if n == 0 {
            return Ok(());
        }
        // Legacy rows predate the NOT NULL check: lift it while they are written,
        // then put it back NOT VALID (PostgreSQL) or as triggers (SQLite). Seeding
        // writes into empty tables, so it needs no transaction around it all.
        for table in MEMORY_TABLES {
            lift_check(db, table).await?;
        }
        let node_ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid_from(rng)).collect();
        let per_chunk = (self.args.chunk as u64).max(1);
        let mut start = 0u64;
        while start < n {
            let end = (start + per_chunk).min(n);
            let range = start..end;
            let ids = || range.clone().map(|i| i as i32 + 1);
            insert_rows(
                db,
                ids()
                    .map(|id| l2_insights::ActiveModel {
                        id: Set(id),
                        content: Set(format!("Insight {id}: prefers short answers")),
                        embedding: Set(embedding(rng)),
                        source_ids: Set(vec![id, id + 1]),
                        created_at: Set(Some(self.at(rng))),
                        metadata: Set(Some(json!({ "source": "seed" }))),
                        io_category: Set(Some("preference".into())),
                        is_identity: Set(Some(false)),
                        source_file: Set(None),
                        memory_strength: Set(Some(0.5)),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                range
                    .clone()
                    .map(|i| nodes::ActiveModel {
                        id: Set(node_ids[i as usize]),
                        label: Set("concept".into()),
                        name: Set(format!("node-{i}")),
                        properties: Set(Some(json!({ "weight": 1 }))),
                        vector_id: Set(Some(i as i32 + 1)),
                        created_at: Set(Some(self.at(rng))),
                        project_id: Set(self.project_id(i, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                range
                    .clone()
                    .map(|i| edges::ActiveModel {
                        id: Set(uuid_from(rng)),
                        source_id: Set(node_ids[i as usize]),
                        // The next node of the same chunk: its row is already written.
                        target_id: Set(node_ids[(start + (i - start + 1) % (end - start)) as usize]),
                        relation: Set("RELATES_TO".into()),
                        weight: Set(Some(1.0)),
                        properties: Set(None),
                        created_at: Set(Some(self.at(rng))),
                        modified_at: Set(None),
                        last_accessed: Set(None),
                        access_count: Set(Some(0)),
                        last_engaged: Set(None),
                        memory_sector: Set(Some("semantic".into())),
                        project_id: Set(self.project_id(i, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| working_memory::ActiveModel {
                        id: Set(id),
                        content: Set(format!("Working note {id}")),
                        importance: Set(Some(0.5)),
                        last_accessed: Set(Some(self.at(rng))),
                        created_at: Set(Some(self.at(rng))),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| episode_memory::ActiveModel {
                        id: Set(id),
                        query: Set(format!("query {id}")),
                        reward: Set(0.5),
                        reflection: Set("went well".into()),
                        embedding: Set(embedding(rng)),
                        created_at: Set(Some(self.at(rng))),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| l0_raw::ActiveModel {
                        id: Set(id),
                        session_id: Set(format!("session-{}", id / 10)),
                        speaker: Set(if id % 2 == 0 { "user" } else { "assistant" }.into()),
                        content: Set(format!("utterance {id}")),
                        timestamp: Set(Some(self.at(rng))),
                        metadata: Set(None),
                        energy: Set(Some(0.7)),
                        state: Set(None),
                        location: Set(None),
                        intentions: Set(None),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| ground_truth::ActiveModel {
                        id: Set(id),
                        query: Set(format!("question {id}")),
                        expected_docs: Set(vec![id, id + 2]),
                        judge1_model: Set(Some("judge-a".into())),
                        judge2_model: Set(Some("judge-b".into())),
                        kappa: Set(Some(0.8)),
                        created_at: Set(Some(self.at(rng))),
                        metadata: Set(None),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| stale_memory::ActiveModel {
                        id: Set(id),
                        original_content: Set(format!("old {id}")),
                        importance: Set(0.2),
                        reason: Set("superseded".into()),
                        content: Set(format!("new {id}")),
                        archived_at: Set(Some(self.at(rng))),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                range
                    .clone()
                    .map(|i| smf_proposals::ActiveModel {
                        id: Set(i as i32 + 1),
                        trigger_type: Set("conflict".into()),
                        proposed_action: Set(json!({ "action": "merge" })),
                        affected_edges: Set(vec![node_ids[i as usize]]),
                        reasoning: Set("duplicate facts".into()),
                        approval_level: Set("auto".into()),
                        status: Set("pending".into()),
                        created_at: Set(Some(self.at(rng))),
                        resolved_at: Set(None),
                        resolved_by: Set(None),
                        project_id: Set(self.project_id(i, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| ief_feedback::ActiveModel {
                        id: Set(id),
                        query_id: Set(uuid_from(rng)),
                        query_text: Set(format!("query {id}")),
                        constitutive_weight_used: Set(0.3),
                        helpful: Set(Some(true)),
                        feedback_reason: Set(None),
                        result_count: Set(Some(5)),
                        conflict_count: Set(Some(0)),
                        created_at: Set(Some(self.at(rng))),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            insert_rows(
                db,
                ids()
                    .map(|id| l2_insight_history::ActiveModel {
                        id: Set(id),
                        insight_id: Set(id),
                        action: Set("update".into()),
                        actor: Set("system".into()),
                        reason: Set("refined".into()),
                        old_content: Set(None),
                        new_content: Set(Some(format!("Insight {id}"))),
                        created_at: Set(Some(self.at(rng))),
                        project_id: Set(self.project_id(id as u64 - 1, rng)),
                    })
                    .collect(),
            )
            .await?;
            start = end;
        }
        for table in MEMORY_TABLES {
            migration::ensure_project_id_check(db, table).await?;
            if db.get_database_backend() == DatabaseBackend::Postgres
                && table != "nodes"
                && table != "edges"
            {
                // Explicit ids do not move a SERIAL's sequence; the application's next
                // insert must not collide with them.
                db.execute_unprepared(&format!(
                    "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT MAX(id) FROM \"{table}\"))"
                ))
                .await?;
            }
        }
        Ok(())
    }
}

/// Drops the NOT NULL check (PostgreSQL) or its triggers (SQLite) of a memory table.
async fn lift_check(txn: &impl ConnectionTrait, table: &str) -> Result<()> {
    let check = migration::project_id_check_name(table);
    let statements = match txn.get_database_backend() {
        DatabaseBackend::Postgres => vec![format!(
            "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{check}\""
        )],
        _ => vec![
            format!(
                "DROP TRIGGER IF EXISTS \"{}\"",
                migration::project_id_insert_trigger_name(table)
            ),
            format!(
                "DROP TRIGGER IF EXISTS \"{}\"",
                migration::project_id_update_trigger_name(table)
            ),
        ],
    };
    for sql in statements {
        txn.execute_unprepared(&sql).await?;
    }
    Ok(())
}

fn uuid_from(rng: &mut SmallRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn embedding(rng: &mut SmallRng) -> Vec<f32> {
    (0..8).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// One table's rows, encoded for the backend and ready to send: the encoding is CPU
/// work that the tests path does in the generator thread, beside the database's work.
struct EncodedRows {
    table: String,
    body: Encoding,
}

enum Encoding {
    /// PostgreSQL: `COPY … FROM STDIN` and its CSV.
    Copy { statement: String, csv: String },
    /// SQLite: multi-row INSERTs, run in one transaction.
    Inserts(Vec<Statement>),
}

/// Encodes `rows` the way each backend loads data fastest: `COPY … FROM STDIN` on
/// PostgreSQL, multi-row INSERTs on SQLite. `None` for no rows.
fn encode<A>(backend: DatabaseBackend, rows: Vec<A>) -> Result<Option<EncodedRows>>
where
    A: ActiveModelTrait,
{
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| first.get(*c).is_set())
        .collect();
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let names = columns
        .iter()
        .map(|c| format!("\"{}\"", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // Each row's values are moved out of it, never copied.
    let values = |mut row: A| {
        columns.iter().map(move |c| {
            let value = row
                .take(*c)
                .into_value()
                .unwrap_or(sea_orm::Value::String(None));
            db::stored_value(backend, value)
        })
    };
    if backend == DatabaseBackend::Postgres {
        let mut csv = String::new();
        for row in rows {
            for (index, value) in values(row).enumerate() {
                if index > 0 {
                    csv.push(',');
                }
                push_csv_field(&mut csv, value)?;
            }
            csv.push('\n');
        }
        let statement = format!("COPY \"{table}\" ({names}) FROM STDIN (FORMAT csv)");
        return Ok(Some(EncodedRows {
            table,
            body: Encoding::Copy { statement, csv },
        }));
    }
    let per_statement = (db::MAX_BINDS / columns.len().max(1)).clamp(1, 1000);
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    let mut statements = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        let sql = format!(
            "INSERT INTO \"{table}\" ({names}) VALUES {}",
            vec![placeholders.as_str(); chunk.len()].join(", ")
        );
        let bound: Vec<sea_orm::Value> = chunk.into_iter().flat_map(values).collect();
        statements.push(Statement::from_sql_and_values(backend, sql, bound));
    }
    Ok(Some(EncodedRows {
        table,
        body: Encoding::Inserts(statements),
    }))
}

/// Writes rows encoded by [`encode`] (none for `None`). On PostgreSQL a chunk commits without waiting
/// for its WAL flush: a seed that dies is started again on an empty database anyway,
/// and `run` ends with a synchronous commit, which flushes all of them.
async fn load(db: &DatabaseConnection, rows: Option<EncodedRows>) -> Result<()> {
    let Some(EncodedRows { table, body }) = rows else {
        return Ok(());
    };
    let context = || format!("could not write the seeded rows of `{table}`");
    match body {
        Encoding::Copy { statement, csv } => {
            let mut txn = db
                .get_postgres_connection_pool()
                .begin()
                .await
                .with_context(context)?;
            sea_orm::sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *txn)
                .await
                .with_context(context)?;
            let mut copy = txn.copy_in_raw(&statement).await.with_context(context)?;
            copy.send(csv.into_bytes()).await.with_context(context)?;
            copy.finish().await.with_context(context)?;
            txn.commit().await.with_context(context)?;
        }
        Encoding::Inserts(statements) => {
            let txn = db.begin().await.with_context(context)?;
            for statement in statements {
                txn.execute_raw(statement).await.with_context(context)?;
            }
            txn.commit().await.with_context(context)?;
        }
    }
    Ok(())
}

/// Writes `rows` in one go (see [`encode`] and [`load`]).
async fn insert_rows<A>(db: &DatabaseConnection, rows: Vec<A>) -> Result<()>
where
    A: ActiveModelTrait,
{
    load(db, encode(db.get_database_backend(), rows)?).await
}

/// Appends one value as a PostgreSQL CSV field: NULL is an empty unquoted field, text
/// is always quoted (so an empty string stays a string), arrays use PostgreSQL's literal.
fn push_csv_field(csv: &mut String, value: sea_orm::Value) -> Result<()> {
    use sea_orm::Value as V;
    use std::fmt::Write;
    let quoted = |csv: &mut String, text: &str| {
        csv.push('"');
        csv.push_str(&text.replace('"', "\"\""));
        csv.push('"');
    };
    match value {
        V::Bool(None)
        | V::Int(None)
        | V::BigInt(None)
        | V::Float(None)
        | V::Double(None)
        | V::String(None)
        | V::Json(None)
        | V::Uuid(None)
        | V::ChronoDateTimeWithTimeZone(None)
        | V::Array(_, None) => {}
        V::Bool(Some(v)) => csv.push_str(if v { "true" } else { "false" }),
        V::Int(Some(v)) => write!(csv, "{v}")?,
        V::BigInt(Some(v)) => write!(csv, "{v}")?,
        V::Float(Some(v)) => write!(csv, "{v}")?,
        V::Double(Some(v)) => write!(csv, "{v}")?,
        V::String(Some(v)) => quoted(csv, &v),
        V::Json(Some(v)) => quoted(csv, &v.to_string()),
        V::Uuid(Some(v)) => write!(csv, "{}", v.hyphenated())?,
        V::ChronoDateTimeWithTimeZone(Some(v)) => csv.push_str(&v.to_rfc3339()),
        V::Array(_, Some(items)) => {
            let mut literal = String::from("{");
            for (index, item) in items.into_iter().enumerate() {
                if index > 0 {
                    literal.push(',');
                }
                push_csv_field(&mut literal, item)?;
            }
            literal.push('}');
            quoted(csv, &literal);
        }
        other => anyhow::bail!("BUG: seed cannot COPY a value like {other:?}"),
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn mix_holds_each_fraction() {
        let mut rng = SmallRng::seed_from_u64(7);
        for n in [1_000u64, 100_000] {
            let mix = Mix::new(&[0.013, 0.05, 0.3], &mut rng);
            let mut counts = [0u64; 3];
            for i in 0..n {
                if let Some(k) = mix.pick(i) {
                    counts[k] += 1;
                }
            }
            for (count, fraction) in counts.iter().zip([0.013, 0.05, 0.3]) {
                assert!(
                    (*count as f64 / n as f64 - fraction).abs() < 0.002,
                    "{n}: {counts:?}"
                );
            }
        }
    }
}
