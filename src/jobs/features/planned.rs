//! What a dry run's phase 1 would have inserted. A dry run rolls every batch back, so
//! phase 2 (and later batches of phase 1) cannot read those rows from `test_features`;
//! they are kept instead in a scratch SQLite file of this process, keyed by feature id,
//! so the dry run reports exactly what a run would, with memory flat whatever the table
//! size. The file is removed when the run ends; the database is never touched.

use std::collections::HashMap;

use anyhow::{Context, Result};
use sea_orm::sea_query::{Alias, IntoColumnRef, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::backend::{self, ConnectSettings, DatabaseUrl, Db, MAX_BINDS};

/// Columns of a planned feature.
const COLUMNS: [&str; 3] = ["id", "customer_id", "test_id"];

/// A feature phase 1 would insert: its id, customer and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlannedFeature {
    pub id: i64,
    pub customer_id: i64,
    pub test_id: i64,
}

pub(super) struct Planned {
    db: Db,
    _dir: tempfile::TempDir,
}

impl Planned {
    pub async fn new() -> Result<Self> {
        let dir =
            tempfile::tempdir().context("could not make a scratch directory for the dry run")?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("planned.db").display()
        );
        let db = backend::connect(&DatabaseUrl::new(url), &ConnectSettings::default()).await?;
        db.execute_unprepared(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE planned (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, test_id INTEGER NOT NULL)",
        )
        .await
        .context("could not set up the dry run's scratch file")?;
        Ok(Self { db, _dir: dir })
    }

    /// Records `features`; a feature recorded already keeps its first listing.
    pub async fn record(&self, features: &[PlannedFeature]) -> Result<(), DbErr> {
        for chunk in features.chunks(MAX_BINDS / COLUMNS.len()) {
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new("planned"))
                .columns(COLUMNS.map(Alias::new))
                .on_conflict(OnConflict::column(Alias::new("id")).do_nothing().to_owned());
            for f in chunk {
                insert
                    .values([f.id.into(), f.customer_id.into(), f.test_id.into()])
                    .map_err(|err| DbErr::Custom(err.to_string()))?;
            }
            self.db.execute(&insert).await?;
        }
        Ok(())
    }

    /// The recorded features among `ids`.
    pub async fn find(&self, ids: &[i64]) -> Result<HashMap<i64, PlannedFeature>, DbErr> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let query = Query::select()
            .columns(COLUMNS.map(Alias::new))
            .from(Alias::new("planned"))
            .and_where(
                self.db
                    .backend()
                    .in_id_list(Alias::new("id").into_column_ref(), ids),
            )
            .to_owned();
        let mut found = HashMap::new();
        for row in self.db.query_all(&query).await? {
            let feature = PlannedFeature {
                id: row.try_get_by_index(0)?,
                customer_id: row.try_get_by_index(1)?,
                test_id: row.try_get_by_index(2)?,
            };
            found.insert(feature.id, feature);
        }
        Ok(found)
    }
}
