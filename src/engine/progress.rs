//! How a walk's progress is shown while it runs: on a terminal a bar per walk (counting
//! the rows left is a scan of the table, so only when someone watches); elsewhere (CI,
//! `nohup`, a pod's log) one line per table or phase every `--progress-every`, from a
//! board the walks of this process write to and a ticker reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, Func, Query};

use crate::backend::{Db, Key, TableKey};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressDisplay {
    /// Not at all (`--quiet`, `--no-progress` on a terminal, a worker among many).
    Hidden,
    /// A bar per walk on stderr, a terminal.
    Bar,
    /// A line per table or phase this often, through the log.
    Lines(Duration),
}

/// Where one walk stands, as a progress line sums it up.
#[derive(Debug, Clone, Default)]
struct WalkStanding {
    unit: String,
    /// Rows its range has seen, earlier processes' included.
    rows: u64,
    /// Rows this process walked of it.
    rows_here: u64,
    estimate: Option<u64>,
    batch_size: Option<u64>,
    held: Option<String>,
    /// The walk reached its range's end: its unit is left out once all its walks are.
    done: bool,
}

/// What the walks of this process report, one standing per walk, for the lines.
#[derive(Debug, Clone, Default)]
pub struct ProgressBoard(Arc<Mutex<BTreeMap<u64, WalkStanding>>>);

impl ProgressBoard {
    fn update(&self, walk: u64, change: impl FnOnce(&mut WalkStanding)) {
        let mut board = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        change(board.entry(walk).or_default());
    }

    /// Logs one line per table or phase every `every`, until dropped. The rate counts
    /// this process's rows over this process's time.
    pub async fn tick(&self, every: Duration) {
        let started = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            for line in self.lines(started.elapsed()) {
                tracing::info!(target: "backfill::progress", "{line}");
            }
        }
    }

    fn lines(&self, elapsed: Duration) -> Vec<String> {
        let board = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut units: BTreeMap<&str, WalkStanding> = BTreeMap::new();
        for walk in board.values() {
            let unit = units.entry(&walk.unit).or_insert_with(|| WalkStanding {
                done: true,
                ..WalkStanding::default()
            });
            unit.done &= walk.done;
            unit.rows += walk.rows;
            unit.rows_here += walk.rows_here;
            unit.estimate = unit.estimate.max(walk.estimate);
            unit.batch_size = walk.batch_size.or(unit.batch_size);
            unit.held = unit.held.take().or_else(|| walk.held.clone());
        }
        units
            .into_iter()
            .filter(|(_, unit)| !unit.done)
            .map(|(name, unit)| line(name, &unit, elapsed))
            .collect()
    }
}

/// `nodes: 120,400 of ~500,000 rows (24%), 8,012 rows/s, ETA 47s, batch 5,000`, and
/// why it holds when it does; without the database's estimate, the rows and the rate.
fn line(name: &str, unit: &WalkStanding, elapsed: Duration) -> String {
    let rate = unit.rows_here as f64 / elapsed.as_secs_f64().max(0.001);
    let estimate = unit.estimate.map(|estimate| estimate.max(unit.rows));
    let mut line = match estimate {
        Some(estimate) => format!(
            "{name}: {} of ~{} rows ({}%)",
            HumanCount(unit.rows),
            HumanCount(estimate),
            unit.rows * 100 / estimate.max(1)
        ),
        None => format!("{name}: {} rows", HumanCount(unit.rows)),
    };
    if rate >= 1.0 {
        line.push_str(&format!(", {} rows/s", HumanCount(rate.round() as u64)));
        if let Some(estimate) = estimate {
            let eta = Duration::from_secs(((estimate - unit.rows) as f64 / rate).ceil() as u64);
            line.push_str(&format!(", ETA {}", humantime::format_duration(eta)));
        }
    }
    if let Some(size) = unit.batch_size {
        line.push_str(&format!(", batch {}", HumanCount(size)));
    }
    if let Some(held) = &unit.held {
        line.push_str(&format!(", holding: {held}"));
    }
    line
}

/// How one walk shows its progress: its bar (hidden unless drawn), and its standing on
/// the board.
pub(super) struct WalkDisplay {
    bar: ProgressBar,
    board: ProgressBoard,
    walk: u64,
}

impl WalkDisplay {
    /// The display of a walk of `key`'s table after `after`, named `unit`.
    pub async fn new(
        db: &Db,
        display: ProgressDisplay,
        board: &ProgressBoard,
        key: TableKey,
        unit: &str,
        after: Option<&Key>,
    ) -> Self {
        static WALKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let walk = WALKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        board.update(walk, |standing| standing.unit = unit.to_string());
        let bar = match display {
            ProgressDisplay::Bar => bar(db, key, unit, after).await,
            ProgressDisplay::Hidden | ProgressDisplay::Lines(_) => ProgressBar::hidden(),
        };
        Self {
            bar,
            board: board.clone(),
            walk,
        }
    }

    /// A batch of `rows` committed; the range stands at `rows_total`, `rows_here` of
    /// them walked by this process, and the next batch reads `batch_size`.
    pub fn committed(&self, rows: u64, rows_total: u64, rows_here: u64, batch_size: u64) {
        self.bar.inc(rows);
        self.board.update(self.walk, |standing| {
            standing.rows = rows_total;
            standing.rows_here = rows_here;
            standing.batch_size = Some(batch_size);
        });
    }

    /// The table's estimated rows.
    pub fn estimate(&self, estimate: Option<u64>) {
        self.board
            .update(self.walk, |standing| standing.estimate = estimate);
    }

    /// Why the walk holds, or that it goes on.
    pub fn held(&self, reason: Option<&str>) {
        self.bar.set_message(reason.unwrap_or_default().to_string());
        self.board.update(self.walk, |standing| {
            standing.held = reason.map(str::to_string)
        });
    }

    /// The walk ended: its bar goes, and its unit leaves the lines once all its walks
    /// of this process have ended.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        self.board
            .update(self.walk, |standing| standing.done = true);
    }

    /// The walk stopped early: its bar stays as it was.
    pub fn abandon(&self) {
        self.bar.abandon();
    }
}

/// A bar for the rows of `key`'s table after `after`.
async fn bar(db: &Db, key: TableKey, unit: &str, after: Option<&Key>) -> ProgressBar {
    let mut count = Query::select();
    count
        .expr(Func::count(Expr::col(Alias::new(key.column))))
        .from(Alias::new(key.table));
    for condition in key.range(db.backend(), after, None) {
        count.and_where(condition);
    }
    let total = match db.query_one(&count).await {
        Ok(Some(row)) => Ord::max(row.try_get_by_index::<i64>(0).unwrap_or(0), 0) as u64,
        _ => 0,
    };
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows  {rate}  eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", crate::logging::whole_rate)
        .progress_chars("=> "),
    );
    bar.set_prefix(unit.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_sums_the_walks_of_a_unit() {
        let board = ProgressBoard::default();
        for (walk, rows, here) in [(1, 100_000, 60_000), (2, 20_400, 20_400)] {
            board.update(walk, |s| {
                s.unit = "nodes".into();
                s.rows = rows;
                s.rows_here = here;
                s.estimate = Some(500_000);
                s.batch_size = Some(5000);
            });
        }
        board.update(3, |s| {
            s.unit = "edges".into();
            s.rows = 10;
            s.held = Some("lock waits: 2 other session(s) wait on locks in this table".into());
        });
        board.update(4, |s| {
            s.unit = "l0_raw".into();
            s.rows = 300;
            s.done = true;
        });
        let lines = board.lines(Duration::from_secs(10));
        assert_eq!(
            lines,
            [
                "edges: 10 rows, holding: lock waits: 2 other session(s) wait on locks in this table",
                "nodes: 120,400 of ~500,000 rows (24%), 8,040 rows/s, ETA 48s, batch 5,000",
            ]
        );
    }
}
