//! The progress bar of a walk: drawn on stderr, and only when someone watches (counting
//! the rows left is a scan of the table).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::walk::{Key, TableWalk};
use crate::backend;

/// A bar for the rows of `walk` after `after`, or a hidden one.
pub(super) async fn bar(
    db: &DatabaseConnection,
    shown: bool,
    walk: TableWalk,
    unit: &str,
    after: Option<&Key>,
) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let mut count = Query::select();
    count
        .expr(Expr::col(Alias::new(walk.key)).count())
        .from(Alias::new(walk.table));
    for condition in walk.range(backend::of(db), after, None) {
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
