//! The fill of one memory table, on the shared engine: each batch reads only its key
//! range with its counts of NULLs and aliases (no row crosses the connection), and a
//! range with neither is not written. NULLs become `'io'` in one journaled update over
//! the range; aliases (rare) are read with their values and replaced per old value,
//! which the `WHERE` re-checks, so the journal and the anomaly name what was replaced.

use std::collections::BTreeMap;
use std::sync::Arc;

use migration::{LEGACY_PROJECT_ID, PROJECT_ID_COLUMN};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult};

use super::{LEGACY_ALIASES, holding};
use crate::anomalies::{Anomaly, AnomalyKind};
use crate::backend::{Backend, Changed, JournaledUpdate, Key, MAX_BINDS, TableKey};
use crate::engine::{Batch, BatchJob, BatchPlan, Reads, Split, Written};

/// Rows whose `project_id` is a legacy alias of the owner: the aliases, or blank.
fn holds_alias() -> Expr {
    Expr::col(Alias::new(PROJECT_ID_COLUMN))
        .is_in(LEGACY_ALIASES)
        .or(Expr::cust("TRIM(project_id) = ''"))
}

/// Rows the backfill sets to `'io'`: NULL or a legacy alias.
fn needs_owner() -> Expr {
    Expr::col(Alias::new(PROJECT_ID_COLUMN))
        .is_null()
        .or(holds_alias())
}

/// The key range of (part of) a batch, `after < key <= upto`, whose NULL and alias
/// `project_id`s become 'io'.
pub(super) struct Fill {
    after: Option<Key>,
    upto: Key,
    /// What keeps its statements on the batch's shard, where it was read on one.
    on_shard: Option<Arc<Expr>>,
    /// The batch it belongs to, for the journal.
    batch: u64,
    /// Whether the range may hold NULLs, and aliases: the batch's read counted them.
    nulls: bool,
    aliases: bool,
}

impl Fill {
    fn rows(&self, order: TableKey, backend: &dyn Backend) -> Expr {
        order
            .range(backend, self.after.as_ref(), Some(&self.upto))
            .into_iter()
            .chain(self.on_shard.as_deref().cloned())
            .fold(Expr::value(true), |all, condition| all.and(condition))
    }
}

pub(super) struct ProjectIdJob {
    pub backend: &'static dyn Backend,
    /// The order batches are cut in (see `super::order_of`).
    pub order: TableKey,
    /// The primary key rows are named, journaled and updated by.
    pub identity: TableKey,
    /// The run whose journal records the old values; none in a dry run.
    pub run_id: Option<i64>,
}

impl ProjectIdJob {
    /// Sets `project_id` to 'io' on the rows `target` selects, every one of which holds
    /// `old`, journaling them in the batch's transaction (see
    /// [`Backend::journaled_update`]). Nothing per row crosses the connection unless
    /// `return_keys` asks for the keys.
    async fn set_owner(
        &self,
        txn: &DatabaseTransaction,
        target: Expr,
        old: Option<&str>,
        batch: u64,
        return_keys: bool,
    ) -> Result<(u64, Vec<Key>), DbErr> {
        let backend = self.backend;
        let update = Query::update()
            .table(Alias::new(self.identity.table))
            .value(Alias::new(PROJECT_ID_COLUMN), LEGACY_PROJECT_ID)
            .and_where(target.clone())
            .to_owned();
        let changed = match self.run_id {
            Some(run_id) => {
                let entry = JournaledUpdate {
                    run_id,
                    batch,
                    target,
                    old,
                    update,
                    identity: self.identity,
                    return_keys,
                };
                backend.journaled_update(txn, entry).await?
            }
            None => {
                backend
                    .run_update(txn, self.identity, target, update, return_keys)
                    .await?
            }
        };
        match changed {
            Changed::Count(count) => Ok((count, Vec::new())),
            Changed::Keys(rows) => {
                let keys = rows
                    .iter()
                    .map(|row| self.identity.read(row, 0))
                    .collect::<Result<Vec<Key>, DbErr>>()?;
                Ok((keys.len() as u64, keys))
            }
        }
    }

    /// NULLs: one update over the key range.
    async fn fill_nulls(
        &self,
        txn: &DatabaseTransaction,
        fill: &Fill,
        written: &mut Written,
    ) -> Result<(), DbErr> {
        let target = fill
            .rows(self.order, self.backend)
            .and(Expr::col(Alias::new(PROJECT_ID_COLUMN)).is_null());
        let (count, _) = self.set_owner(txn, target, None, fill.batch, false).await?;
        written.updated += count;
        Ok(())
    }

    /// Aliases (rare): read with their values, then updated per old value.
    async fn fill_aliases(
        &self,
        txn: &DatabaseTransaction,
        fill: &Fill,
        written: &mut Written,
    ) -> Result<(), DbErr> {
        let backend = self.backend;
        let found = Query::select()
            .expr(self.identity.selected(backend))
            .column(Alias::new(PROJECT_ID_COLUMN))
            .from(Alias::new(self.identity.table))
            .and_where(fill.rows(self.order, backend))
            .and_where(holds_alias())
            .to_owned();
        let mut by_old: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        for row in txn.query_all(&found).await? {
            let old: String = row.try_get_by_index(1)?;
            by_old
                .entry(old)
                .or_default()
                .push(self.identity.read(&row, 0)?);
        }
        for (old, keys) in by_old {
            for chunk in keys.chunks(MAX_BINDS) {
                let target = holding(self.identity, backend, chunk, &old);
                let (_, changed) = self
                    .set_owner(txn, target, Some(&old), fill.batch, true)
                    .await?;
                for key in changed {
                    written.updated += 1;
                    written.normalized += 1;
                    written.anomalies.push(Anomaly {
                        table: self.identity.table,
                        row_id: key.to_string(),
                        kind: AnomalyKind::LegacyAlias,
                        description: format!(
                            "project_id was the legacy alias {old:?}; set to 'io'"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Rows of a value that is neither 'io' nor NULL and may not be UTF-8 (see
/// [`crate::backend::Dialect::maybe_not_utf8`]).
fn maybe_not_utf8(backend: &dyn Backend) -> Option<Expr> {
    let odd = backend.maybe_not_utf8(PROJECT_ID_COLUMN)?;
    Some(
        Expr::col(Alias::new(PROJECT_ID_COLUMN))
            .ne(LEGACY_PROJECT_ID)
            .and(odd),
    )
}

impl ProjectIdJob {
    /// A `project_id` that is not text at all (bytes that are not UTF-8) is neither the
    /// legacy owner nor an alias: it is left as it is, and logged for review.
    async fn note_not_utf8(
        &self,
        txn: &DatabaseTransaction,
        batch: &Batch<()>,
        plan: &mut BatchPlan,
    ) -> Result<(), DbErr> {
        let backend = self.backend;
        let Some(odd) = maybe_not_utf8(backend) else {
            return Ok(());
        };
        let range = Fill {
            after: batch.after.clone(),
            upto: batch.upto.clone(),
            on_shard: batch.on_shard.clone(),
            batch: batch.number,
            nulls: false,
            aliases: false,
        };
        let found = Query::select()
            .expr(self.identity.selected(backend))
            .expr(backend.text_as_read(Expr::col(Alias::new(PROJECT_ID_COLUMN))))
            .from(Alias::new(self.identity.table))
            .and_where(range.rows(self.order, backend))
            .and_where(odd)
            .to_owned();
        for row in txn.query_all(&found).await? {
            let bytes = backend.read_text(&row, 1)?.unwrap_or_default();
            if std::str::from_utf8(&bytes).is_err() {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                plan.anomalies.note(
                    self.identity.table,
                    self.identity.read(&row, 0)?,
                    AnomalyKind::InvalidField,
                    format!(
                        "project_id holds bytes that are not UTF-8 (hex {hex}); left unchanged"
                    ),
                );
            }
        }
        Ok(())
    }
}

impl BatchJob for ProjectIdJob {
    type Row = ();
    type Write = Fill;

    /// Only the key range, with its counts of NULLs and of aliases: the database
    /// finds the rows itself, and a range without either is not written at all.
    fn reads(&self) -> Reads {
        let counts = |rows: Expr| Expr::case(rows, 1).finally(0).into();
        let mut sums = vec![
            counts(Expr::col(Alias::new(PROJECT_ID_COLUMN)).is_null()),
            counts(holds_alias()),
        ];
        if let Some(odd) = maybe_not_utf8(self.backend) {
            sums.push(counts(odd));
        }
        Reads::Range(sums)
    }

    fn decode(&self, _row: &QueryResult) -> Result<(), DbErr> {
        Ok(())
    }

    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        batch: Batch<()>,
        plan: &mut BatchPlan,
    ) -> Result<Vec<Fill>, DbErr> {
        let (nulls, aliases) = match batch.sums[..] {
            [nulls, aliases, ..] => (nulls > 0, aliases > 0),
            _ => (true, true),
        };
        if batch.sums.get(2).is_some_and(|odd| *odd > 0) {
            self.note_not_utf8(txn, &batch, plan).await?;
        }
        if !nulls && !aliases {
            return Ok(Vec::new());
        }
        Ok(vec![Fill {
            after: batch.after,
            upto: batch.upto,
            on_shard: batch.on_shard,
            batch: batch.number,
            nulls,
            aliases,
        }])
    }

    async fn write(&self, txn: &DatabaseTransaction, fills: &[Fill]) -> Result<Written, DbErr> {
        let mut written = Written::default();
        for fill in fills {
            if fill.nulls {
                self.fill_nulls(txn, fill, &mut written).await?;
            }
            if fill.aliases {
                self.fill_aliases(txn, fill, &mut written).await?;
            }
        }
        Ok(written)
    }

    /// A rejected range splits at the middle of the rows it would change; a range with
    /// one such row names it.
    async fn split(&self, txn: &DatabaseTransaction, fill: Fill) -> Result<Split<Fill>, DbErr> {
        let backend = self.backend;
        let keys = Query::select()
            .expr(self.order.selected(backend))
            .expr(self.identity.selected(backend))
            .from(Alias::new(self.identity.table))
            .and_where(fill.rows(self.order, backend))
            .and_where(needs_owner())
            .order_by(self.order.order_column(), Order::Asc)
            .to_owned();
        let rows = txn.query_all(&keys).await?;
        if rows.len() < 2 {
            let row = match rows.first() {
                Some(row) => self.identity.read(row, 1)?.to_string(),
                None => format!(
                    "{}..={}",
                    fill.after
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    fill.upto
                ),
            };
            return Ok(Split::Row(self.identity.table, row));
        }
        let keys = rows
            .iter()
            .map(|row| self.order.read(row, 0))
            .collect::<Result<Vec<Key>, DbErr>>()?;
        let middle = keys[keys.len() / 2 - 1].clone();
        Ok(Split::Halves(
            Fill {
                after: fill.after.clone(),
                upto: middle.clone(),
                on_shard: fill.on_shard.clone(),
                ..fill
            },
            Fill {
                after: Some(middle),
                ..fill
            },
        ))
    }
}
