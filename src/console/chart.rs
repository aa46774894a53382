//! A run's history (`backfill_samples`) drawn as SVG: rows per second, batch time and
//! batch size over the run's life. The samples are summed in the database into at most
//! [`POINTS`] buckets, so a run of a week draws as fast as one of a minute.

use anyhow::{Context, Result};
use entity::backfill_samples::{Column, Entity};
use maud::{Markup, html};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::backend::Db;

/// Buckets drawn at most.
const POINTS: i64 = 240;
/// The narrowest bucket, in ms.
const FINEST: i64 = 1000;
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 90.0;

/// One bucket of a run's history: all its workers' batches in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub at_ms: i64,
    pub rows_per_second: f64,
    pub batch_ms: f64,
    pub batch_size: f64,
}

/// Run `id`'s history in buckets, oldest first.
pub async fn series(db: &Db, id: i64) -> Result<Vec<Point>> {
    let bounds: Option<(Option<i64>, Option<i64>)> = Entity::find()
        .select_only()
        .column_as(Column::AtMs.min(), "first")
        .column_as(Column::AtMs.max(), "last")
        .filter(Column::RunId.eq(id))
        .into_tuple()
        .one(db)
        .await
        .context("could not read backfill_samples")?;
    let Some((Some(first), Some(last))) = bounds else {
        return Ok(Vec::new());
    };
    let bucket = Ord::max((last - first) / POINTS + 1, FINEST);
    let at = Expr::col(Column::AtMs);
    let buckets: Vec<(i64, f64, f64, f64, i64)> = Entity::find()
        .select_only()
        .column_as(at.clone().sub(at.modulo(bucket)), "bucket")
        .column_as(Column::RowsWalked.sum(), "rows_walked")
        .column_as(Column::Batches.sum(), "batches")
        .column_as(Column::BusyMs.sum(), "busy_ms")
        .column_as(Column::BatchSize.max(), "batch_size")
        .filter(Column::RunId.eq(id))
        .group_by(Expr::col(Alias::new("bucket")))
        .order_by_asc(Expr::col(Alias::new("bucket")))
        .into_tuple()
        .all(db)
        .await
        .context("could not read backfill_samples")?;
    Ok(buckets
        .into_iter()
        .map(|(at_ms, rows, batches, busy_ms, batch_size)| Point {
            at_ms,
            rows_per_second: rows * 1000.0 / bucket as f64,
            batch_ms: if batches > 0.0 {
                busy_ms / batches
            } else {
                0.0
            },
            batch_size: batch_size as f64,
        })
        .collect())
}

/// The three charts of `points`; a sentence where there is nothing to draw yet.
pub fn svg(points: &[Point]) -> Markup {
    if points.is_empty() {
        return html! { p.empty { "No batch has committed yet: the charts start with the first." } };
    }
    let first = points[0].at_ms;
    let span = Ord::max(points[points.len() - 1].at_ms - first, 1) as f64;
    let panel = |title: &str, unit: &str, value: fn(&Point) -> f64| {
        let top = points.iter().map(value).fold(0.0_f64, f64::max).max(1e-9);
        let line: Vec<String> = points
            .iter()
            .map(|point| {
                let x = (point.at_ms - first) as f64 / span * WIDTH;
                let y = HEIGHT - value(point) / top * HEIGHT;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        html! {
            figure.chart {
                figcaption { (title) span.top { "max " (format!("{top:.0}")) " " (unit) } }
                svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) preserveAspectRatio="none" role="img" aria-label=(title) {
                    polyline points=(line.join(" ")) {}
                }
            }
        }
    };
    let minutes = span / 60_000.0;
    html! {
        (panel("Rows per second", "rows/s", |p| p.rows_per_second))
        (panel("Batch time", "ms", |p| p.batch_ms))
        (panel("Batch size", "rows", |p| p.batch_size))
        p.axis { "over " (format!("{minutes:.1}")) " minutes, " (points.len()) " points" }
    }
}
