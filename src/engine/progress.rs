//! The progress bar of a walk: drawn on stderr, and only when someone watches (counting
//! the rows left is a scan of the table).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

use crate::backend::{Db, Key, TableKey};

/// A bar for the rows of `key`'s table after `after`, or a hidden one.
pub(super) async fn bar(
    db: &Db,
    shown: bool,
    key: TableKey,
    unit: &str,
    after: Option<&Key>,
) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let mut count = Query::select();
    count
        .expr(Expr::col(Alias::new(key.column)).count())
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
