//! Tests and bugs: API-shaped payloads (flat or enveloped) with the chosen fractions of
//! malformed JSON, features without ids, and bugs naming no, a missing or a foreign
//! test feature. Generated on a thread of their own, beside the database's work.

use entity::{bugs, tests};
use rand::Rng;
use rand::rngs::SmallRng;
use sea_orm::ActiveValue::Set;
use serde::Serialize;

use super::memory::PgvectorColumns;
use super::{Seeder, encode, load};
use crate::backend::Db;
use anyhow::Result;

/// Feature ids at and above this never exist: bugs naming them dangle.
const MISSING_FEATURE_BASE: i64 = 1_000_000_000_000;

/// How many features and bugs the generator has drawn imperfections for so far.
#[derive(Debug, Default)]
struct Drawn {
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

impl Seeder {
    /// Generates tests and bugs on a thread of their own while this task writes the
    /// previous chunk: generation and the database's work overlap.
    pub(super) async fn tests_and_bugs(&self, db: &Db, rng: SmallRng) -> Result<SmallRng> {
        let (sender, mut chunks) = tokio::sync::mpsc::channel(2);
        let generator = self.clone();
        let backend = db.backend();
        let producer = std::thread::spawn(move || {
            let mut rng = rng;
            let mut drawn = Drawn::default();
            let per_chunk = (generator.args.chunk as u64).max(1);
            let mut first = 1u64;
            while first <= generator.args.tests {
                let last = (first + per_chunk - 1).min(generator.args.tests);
                let (test_rows, bug_rows) =
                    generator.tests_chunk(first, last, &mut rng, &mut drawn);
                let none = PgvectorColumns::new();
                let encoded = encode(backend, test_rows, &none)
                    .and_then(|tests| Ok((tests, encode(backend, bug_rows, &none)?)));
                if sender.blocking_send(encoded).is_err() {
                    break;
                }
                first = last + 1;
            }
            rng
        });
        // Where two loads may run at once, a chunk's bugs are loaded on a second
        // connection while the next chunk's tests are. (Bugs follow their tests, which
        // their foreign key needs.) Elsewhere they load in turn.
        let overlap = backend.writes_in_parallel();
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
        drawn: &mut Drawn,
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
                            .filter(|_| !self.no_feature_id.picks(drawn.feature)),
                        feature_id: rng.random_range(1..5000),
                        title: format!("Feature {} of test {id}", j + 1),
                        description: format!("What feature {} covers", j + 1),
                        howtofind: "Main menu",
                        user_stories: ["As a user I can log in", "As a user I can log out"],
                        enable_default: rng.random_bool(0.5),
                        enable_visual: rng.random_bool(0.5).then_some(true),
                    };
                    drawn.feature += 1;
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
                let feature = match self.bug_flaw.pick(drawn.bug) {
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
                drawn.bug += 1;
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
}
