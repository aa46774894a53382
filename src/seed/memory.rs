//! The eleven memory tables: `memory_rows` rows each, in chunks, with the chosen
//! fractions of NULL and legacy-alias `project_id`s. Legacy rows predate the NOT NULL
//! guard, so it is lifted while they are written and put back afterwards (`NOT VALID`
//! on PostgreSQL, the triggers on SQLite), as in a database whose column predates it.

use std::collections::BTreeSet;

use anyhow::Result;
use entity::{
    edges, episode_memory, ground_truth, ief_feedback, l0_raw, l2_insight_history, l2_insights,
    nodes, smf_proposals, stale_memory, working_memory,
};
use migration::MEMORY_TABLES;
use rand::Rng;
use rand::rngs::SmallRng;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait};
use serde_json::json;

use super::{Seeder, encode, load};
use crate::backend::Db;
use crate::schema;

/// The memory tables keyed by uuid; the others have serial ids.
const UUID_TABLES: [&str; 2] = ["nodes", "edges"];
/// The labels `l0_raw.energy` holds.
const ENERGIES: [&str; 3] = ["low", "medium", "high"];

/// (table, column) of the memory columns whose type is pgvector's `vector`.
pub(super) type PgvectorColumns = BTreeSet<(String, String)>;

/// One chunk of row indexes, `start..end`, the node ids every chunk refers to, and the
/// columns written in pgvector's form.
struct Chunk<'a> {
    start: u64,
    end: u64,
    node_ids: &'a [uuid::Uuid],
    vector_columns: &'a PgvectorColumns,
}

impl Chunk<'_> {
    fn rows(&self) -> std::ops::Range<u64> {
        self.start..self.end
    }

    fn node(&self, i: u64) -> uuid::Uuid {
        self.node_ids[i as usize]
    }

    /// The next node of the same chunk (its row is written already), for edges.
    fn next_node(&self, i: u64) -> uuid::Uuid {
        self.node(self.start + (i - self.start + 1) % (self.end - self.start))
    }
}

/// The serial id of row `i`.
fn serial(i: u64) -> i32 {
    i as i32 + 1
}

impl Seeder {
    /// Writes the memory tables; returns those whose serial ids were given explicitly.
    pub(super) async fn memory(&self, db: &Db, rng: &mut SmallRng) -> Result<Vec<&'static str>> {
        let n = self.args.memory_rows;
        if n == 0 {
            return Ok(Vec::new());
        }
        // Seeding writes into empty tables, so it needs no transaction around it all.
        let backend = db.backend();
        for table in MEMORY_TABLES {
            for statement in backend.lift_project_id_guard(table) {
                db.execute_unprepared(&statement).await?;
            }
        }
        let vector_columns = pgvector_columns(db).await?;
        let node_ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid_from(rng)).collect();
        let per_chunk = (self.args.chunk as u64).max(1);
        let mut start = 0u64;
        while start < n {
            let end = (start + per_chunk).min(n);
            let chunk = Chunk {
                start,
                end,
                node_ids: &node_ids,
                vector_columns: &vector_columns,
            };
            self.memory_chunk(db, &chunk, rng).await?;
            start = end;
        }
        for table in MEMORY_TABLES {
            migration::ensure_project_id_check(db, table).await?;
        }
        Ok(MEMORY_TABLES
            .into_iter()
            .filter(|table| !UUID_TABLES.contains(table))
            .collect())
    }

    /// One chunk of every memory table, parents first.
    async fn memory_chunk(&self, db: &Db, chunk: &Chunk<'_>, rng: &mut SmallRng) -> Result<()> {
        put(db, chunk, chunk.rows().map(|i| self.l2_insight(i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.node(chunk, i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.edge(chunk, i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.working_memory(i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.episode(i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.l0_raw(i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.ground_truth(i, rng))).await?;
        put(db, chunk, chunk.rows().map(|i| self.stale_memory(i, rng))).await?;
        put(
            db,
            chunk,
            chunk.rows().map(|i| self.smf_proposal(chunk, i, rng)),
        )
        .await?;
        put(db, chunk, chunk.rows().map(|i| self.ief_feedback(i, rng))).await?;
        put(
            db,
            chunk,
            chunk.rows().map(|i| self.insight_history(i, rng)),
        )
        .await
    }

    fn l2_insight(&self, i: u64, rng: &mut SmallRng) -> l2_insights::ActiveModel {
        let id = serial(i);
        l2_insights::ActiveModel {
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
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn node(&self, chunk: &Chunk<'_>, i: u64, rng: &mut SmallRng) -> nodes::ActiveModel {
        nodes::ActiveModel {
            id: Set(chunk.node(i)),
            label: Set("concept".into()),
            name: Set(format!("node-{i}")),
            properties: Set(Some(json!({ "weight": 1 }))),
            vector_id: Set(Some(serial(i))),
            created_at: Set(Some(self.at(rng))),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn edge(&self, chunk: &Chunk<'_>, i: u64, rng: &mut SmallRng) -> edges::ActiveModel {
        edges::ActiveModel {
            id: Set(uuid_from(rng)),
            source_id: Set(chunk.node(i)),
            target_id: Set(chunk.next_node(i)),
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
        }
    }

    fn working_memory(&self, i: u64, rng: &mut SmallRng) -> working_memory::ActiveModel {
        let id = serial(i);
        working_memory::ActiveModel {
            id: Set(id),
            content: Set(format!("Working note {id}")),
            importance: Set(Some(0.5)),
            last_accessed: Set(Some(self.at(rng))),
            created_at: Set(Some(self.at(rng))),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn episode(&self, i: u64, rng: &mut SmallRng) -> episode_memory::ActiveModel {
        let id = serial(i);
        episode_memory::ActiveModel {
            id: Set(id),
            query: Set(format!("query {id}")),
            reward: Set(0.5),
            reflection: Set("went well".into()),
            embedding: Set(embedding(rng)),
            created_at: Set(Some(self.at(rng))),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn l0_raw(&self, i: u64, rng: &mut SmallRng) -> l0_raw::ActiveModel {
        let id = serial(i);
        l0_raw::ActiveModel {
            id: Set(id),
            session_id: Set(format!("session-{}", id / 10)),
            speaker: Set(if id % 2 == 0 { "user" } else { "assistant" }.into()),
            content: Set(format!("utterance {id}")),
            timestamp: Set(Some(self.at(rng))),
            metadata: Set(None),
            energy: Set(Some(ENERGIES[id as usize % ENERGIES.len()].into())),
            state: Set(None),
            location: Set(None),
            intentions: Set(Some(vec!["answer".into(), "remember".into()])),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn ground_truth(&self, i: u64, rng: &mut SmallRng) -> ground_truth::ActiveModel {
        let id = serial(i);
        ground_truth::ActiveModel {
            id: Set(id),
            query: Set(format!("question {id}")),
            expected_docs: Set(vec![id, id + 2]),
            judge1_model: Set(Some("judge-a".into())),
            judge2_model: Set(Some("judge-b".into())),
            kappa: Set(Some(0.8)),
            created_at: Set(Some(self.at(rng))),
            metadata: Set(None),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn stale_memory(&self, i: u64, rng: &mut SmallRng) -> stale_memory::ActiveModel {
        let id = serial(i);
        stale_memory::ActiveModel {
            id: Set(id),
            original_content: Set(format!("old {id}")),
            importance: Set(0.2),
            reason: Set("superseded".into()),
            content: Set(format!("new {id}")),
            archived_at: Set(Some(self.at(rng))),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn smf_proposal(
        &self,
        chunk: &Chunk<'_>,
        i: u64,
        rng: &mut SmallRng,
    ) -> smf_proposals::ActiveModel {
        smf_proposals::ActiveModel {
            id: Set(serial(i)),
            trigger_type: Set("conflict".into()),
            proposed_action: Set(json!({ "action": "merge" })),
            affected_edges: Set(vec![chunk.node(i)]),
            reasoning: Set("duplicate facts".into()),
            approval_level: Set("auto".into()),
            status: Set("pending".into()),
            created_at: Set(Some(self.at(rng))),
            resolved_at: Set(None),
            resolved_by: Set(None),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn ief_feedback(&self, i: u64, rng: &mut SmallRng) -> ief_feedback::ActiveModel {
        let id = serial(i);
        ief_feedback::ActiveModel {
            id: Set(id),
            query_id: Set(uuid_from(rng)),
            query_text: Set(format!("query {id}")),
            constitutive_weight_used: Set(0.3),
            helpful: Set(Some(true)),
            feedback_reason: Set(None),
            result_count: Set(Some(5)),
            conflict_count: Set(Some(0)),
            created_at: Set(Some(self.at(rng))),
            project_id: Set(self.project_id(i, rng)),
        }
    }

    fn insight_history(&self, i: u64, rng: &mut SmallRng) -> l2_insight_history::ActiveModel {
        let id = serial(i);
        l2_insight_history::ActiveModel {
            id: Set(id),
            insight_id: Set(id),
            action: Set("update".into()),
            actor: Set("system".into()),
            reason: Set("refined".into()),
            old_content: Set(None),
            new_content: Set(Some(format!("Insight {id}"))),
            created_at: Set(Some(self.at(rng))),
            project_id: Set(self.project_id(i, rng)),
        }
    }
}

/// Writes `rows` of `chunk` in one bulk load.
async fn put<A: ActiveModelTrait>(
    db: &Db,
    chunk: &Chunk<'_>,
    rows: impl Iterator<Item = A>,
) -> Result<()> {
    let encoded = encode(db.backend(), rows.collect(), chunk.vector_columns)?;
    load(db, encoded).await
}

/// The memory columns stored as pgvector's `vector` (a database adopted from the source
/// system): `seed` writes their values in that type's text form, `[0.25,-0.5]`, which
/// a `real[]` would refuse.
async fn pgvector_columns(db: &Db) -> Result<PgvectorColumns> {
    let backend = db.backend();
    let mut found = PgvectorColumns::new();
    for table in MEMORY_TABLES {
        for column in schema::actual_columns(db, table).await? {
            if backend.stands_for_embedding(&column.name, &column.type_name) {
                found.insert((table.to_string(), column.name));
            }
        }
    }
    Ok(found)
}

/// A float array in pgvector's text form; any other value as it is.
pub(super) fn pgvector_text(value: sea_orm::Value) -> sea_orm::Value {
    use sea_orm::Value as V;
    let V::Array(_, Some(items)) = &value else {
        return value;
    };
    let numbers: Option<Vec<String>> = items
        .iter()
        .map(|item| match item {
            V::Float(Some(v)) => Some(v.to_string()),
            V::Double(Some(v)) => Some(v.to_string()),
            _ => None,
        })
        .collect();
    match numbers {
        Some(numbers) => V::String(Some(format!("[{}]", numbers.join(",")))),
        None => value,
    }
}

pub(super) fn uuid_from(rng: &mut SmallRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn embedding(rng: &mut SmallRng) -> Vec<f32> {
    (0..8).map(|_| rng.random_range(-1.0..1.0)).collect()
}
