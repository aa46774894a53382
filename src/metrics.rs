//! Prometheus metrics of a run (`--metrics-addr`): rows and batches per table or phase,
//! batch durations, the current batch size, whether the run holds and why, anomalies by
//! kind. The engine records into a [`Metrics`] whether or not anyone serves it (a few
//! atomic adds per batch); `serve` answers scrapes on a thread of its own.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::anomalies::AnomalyKind;
use crate::error::UsageError;

/// The reasons a run holds, as the `backfill_held` gauge names them.
pub const HOLD_REASONS: [&str; 5] = [
    "paused",
    "replication_lag",
    "lock_waiters",
    "server_load",
    "window",
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Unit {
    unit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

type Durations = Family<Unit, Histogram, fn() -> Histogram>;

#[derive(Debug)]
struct Families {
    registry: Registry,
    rows: Family<Unit, Counter>,
    batches: Family<Unit, Counter>,
    durations: Durations,
    batch_size: Family<Unit, Gauge>,
    held: Family<Reason, Gauge>,
    anomalies: Family<Kind, Counter>,
}

/// Where a run's figures go. Clones share them.
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Families>);

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("backfill");
        let rows = Family::<Unit, Counter>::default();
        let batches = Family::<Unit, Counter>::default();
        let durations: Durations =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 2.0, 14)));
        let batch_size = Family::<Unit, Gauge>::default();
        let held = Family::<Reason, Gauge>::default();
        let anomalies = Family::<Kind, Counter>::default();
        registry.register("rows", "Rows walked, per table or phase", rows.clone());
        registry.register(
            "batches",
            "Batches committed, per table or phase",
            batches.clone(),
        );
        registry.register(
            "batch_duration_seconds",
            "Time of a committed batch, read and write",
            durations.clone(),
        );
        registry.register(
            "batch_size",
            "Rows the next batch reads",
            batch_size.clone(),
        );
        registry.register(
            "held",
            "1 while the run holds for this reason",
            held.clone(),
        );
        registry.register("anomalies", "Anomalies logged, by kind", anomalies.clone());
        for reason in HOLD_REASONS {
            held.get_or_create(&Reason { reason }).set(0);
        }
        Self(Arc::new(Families {
            registry,
            rows,
            batches,
            durations,
            batch_size,
            held,
            anomalies,
        }))
    }
}

impl Metrics {
    /// A batch of `rows` rows of `unit` committed after `took`; the next reads `next_size`.
    pub fn batch(&self, unit: &str, rows: u64, took: Duration, next_size: u64) {
        let unit = Unit { unit: unit.into() };
        let m = &self.0;
        m.rows.get_or_create(&unit).inc_by(rows);
        m.batches.get_or_create(&unit).inc();
        m.durations.get_or_create(&unit).observe(took.as_secs_f64());
        m.batch_size
            .get_or_create(&unit)
            .set(i64::try_from(next_size).unwrap_or(i64::MAX));
    }

    /// The run holds for `reason` (one of [`HOLD_REASONS`]), or goes on (`None`).
    pub fn held(&self, reason: Option<&str>) {
        for known in HOLD_REASONS {
            let on = i64::from(reason == Some(known));
            self.0.held.get_or_create(&Reason { reason: known }).set(on);
        }
    }

    /// `count` anomalies of `kind` were logged.
    pub fn anomalies(&self, kind: AnomalyKind, count: u64) {
        self.0
            .anomalies
            .get_or_create(&Kind {
                kind: kind.as_str(),
            })
            .inc_by(count);
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.0.registry);
        text
    }
}

/// Serves `metrics` at `http://addr/` (any path) until the process ends.
pub fn serve(addr: &str, metrics: Metrics) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|err| {
        UsageError::new(format!(
            "--metrics-addr {addr}: cannot listen there ({err})"
        ))
    })?;
    std::thread::spawn(move || {
        let content_type = tiny_http::Header::from_bytes(
            "Content-Type",
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .ok();
        for request in server.incoming_requests() {
            let mut response = tiny_http::Response::from_string(metrics.encode());
            if let Some(header) = content_type.clone() {
                response.add_header(header);
            }
            let _ = request.respond(response);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_what_a_run_does() {
        let metrics = Metrics::default();
        metrics.batch("nodes", 500, Duration::from_millis(20), 600);
        metrics.batch("nodes", 300, Duration::from_millis(30), 600);
        metrics.held(Some("lock_waiters"));
        metrics.anomalies(AnomalyKind::RowRejected, 2);
        let text = metrics.encode();
        for line in [
            "backfill_rows_total{unit=\"nodes\"} 800",
            "backfill_batches_total{unit=\"nodes\"} 2",
            "backfill_batch_size{unit=\"nodes\"} 600",
            "backfill_held{reason=\"lock_waiters\"} 1",
            "backfill_held{reason=\"paused\"} 0",
            "backfill_anomalies_total{kind=\"row_rejected\"} 2",
            "backfill_batch_duration_seconds_count{unit=\"nodes\"} 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
