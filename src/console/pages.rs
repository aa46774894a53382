//! The console's pages, as `maud` markup: every value is escaped as it is written in.
//! Each page has a live part (`#live`) that its script swaps for a fresh copy every two
//! seconds; its forms stay above it, so a half-typed setting survives.

use maud::{DOCTYPE, Markup, html};

use crate::anomalies::ListedAnomaly;
use crate::runs::{RunView, UnitView};

/// What every page shows around its content.
pub struct Frame {
    /// The database, its password redacted.
    pub database: String,
    /// Whether the request carries the token, so that actions are offered.
    pub may_act: bool,
    pub read_only: bool,
}

/// The run page's content beside the run itself.
pub struct RunPage<'a> {
    pub run: &'a RunView,
    /// Each setting's value now.
    pub current: &'a [(&'static str, Option<String>)],
    pub chart: Markup,
    /// The summary a finished run recorded (its validation included), as JSON.
    pub summary: Option<String>,
}

/// The anomalies page's filter.
pub struct AnomalyFilter {
    pub table: Option<String>,
    pub kind: Option<String>,
    pub run: Option<String>,
    pub all: bool,
}

/// A page: `controls` (its forms, which a refresh must not wipe) above `live` (what the
/// script refreshes).
fn layout(frame: &Frame, title: &str, controls: Markup, live: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · backfill" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "backfill" }
                    nav { a href="/" { "Runs" } a href="/anomalies" { "Anomalies" } }
                    span.database { (frame.database) }
                    @if frame.read_only {
                        span.mode { "read-only" }
                    } @else if !frame.may_act {
                        span.mode { "watching: open the link `serve` printed to act" }
                    }
                }
                main {
                    h1 { (title) }
                    (controls)
                    div #live { (live) }
                }
            }
        }
    }
}

/// The list of runs, newest first.
pub fn runs(frame: &Frame, listed: &[RunView]) -> Markup {
    let live = html! {
        @if listed.is_empty() {
            p.empty { "No run yet." }
        } @else {
            table.runs {
                thead { tr {
                    th { "Run" } th { "Command" } th { "Status" } th { "Progress" } th { "Rate" }
                    th { "ETA" } th { "Held" } th { "Started by" } th { "Started" } th { "Finished" }
                } }
                tbody {
                    @for run in listed {
                        @let total = Totals::of(&run.units);
                        tr {
                            td { a href=(format!("/runs/{}", run.id)) { (run.id) } }
                            td { (run.command) }
                            td { span class=(format!("status {}", run.status)) { (run.status) } }
                            td { (progress(total.rows, total.estimate)) }
                            td { (rate(total.rate)) }
                            td { (eta(total.eta)) }
                            td.held { (total.held.unwrap_or_default()) }
                            td { (run.worker) }
                            td { (run.started_at.format("%F %T")) }
                            td { (run.finished_at.map(|at| at.format("%F %T").to_string()).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    layout(frame, "Runs", html! {}, live)
}

/// One run: its tables or phases, chart, ranges, settings and their history, actions.
pub fn run(frame: &Frame, page: &RunPage) -> Markup {
    let run = page.run;
    let live = html! {
        p.facts {
            span class=(format!("status {}", run.status)) { (run.status) }
            " " (run.command) " · started " (run.started_at.format("%F %T")) " by " (run.worker)
            @if let Some(at) = run.finished_at { " · ended " (at.format("%F %T")) }
            " · " a href=(format!("/anomalies?run={}&all=1", run.id)) { "its anomalies" }
        }
        h2 { "Tables and phases" }
        table.units {
            thead { tr {
                th { "Unit" } th { "Progress" } th { "Rate" } th { "ETA" } th { "Batch size" }
                th { "Batches" } th { "Ranges" } th { "Workers" } th { "Held" }
            } }
            tbody {
                @for unit in &run.units {
                    tr {
                        td { (unit.unit) }
                        td { (progress(unit.rows, unit.estimate)) }
                        td { (rate(unit.rows_per_second)) }
                        td { (eta(unit.eta_seconds)) }
                        td { (unit.batch_size.map(|size| size.to_string()).unwrap_or_default()) }
                        td { (unit.batches) }
                        td { (unit.ranges.done) " done, " (unit.ranges.in_progress) " working, " (unit.ranges.left) " left" }
                        td { (unit.workers.join(", ")) }
                        td.held { (unit.held.clone().unwrap_or_default()) }
                    }
                }
            }
        }
        h2 { "History" }
        (page.chart)
        h2 { "Settings" }
        table.settings {
            tbody { @for (name, value) in page.current {
                tr { th { (name) } td { (value.clone().unwrap_or_else(|| "as each process's flags say".into())) } }
            } }
        }
        @if let Some(changes) = &run.changes {
            @if !changes.is_empty() {
                h3 { "Changes" }
                table.changes {
                    thead { tr { th { "When" } th { "Setting" } th { "From" } th { "To" } th { "By" } } }
                    tbody { @for change in changes {
                        tr {
                            td { (change.changed_at.format("%F %T")) }
                            td { (change.setting) }
                            td { (change.old_value.clone().unwrap_or_default()) }
                            td { (change.new_value) }
                            td { (change.changed_by) }
                        }
                    } }
                }
            }
        }
        h2 { "Ranges" }
        table.ranges {
            thead { tr { th { "Range" } th { "Unit" } th { "Keys" } th { "Rows" } th { "State" } } }
            tbody { @for range in run.ranges.iter().flatten() {
                tr {
                    td { (range.id) }
                    td { (range.unit) }
                    td { "(" (range.after.as_deref().unwrap_or("start")) ", " (range.upto.as_deref().unwrap_or("end")) "]" }
                    td { (range.checkpoint.counters.processed) }
                    td { @match (&range.worker, range.done) {
                        (_, true) => "done",
                        (Some(worker), false) => { "working: " (worker) },
                        (None, false) => "left",
                    } }
                }
            } }
        }
        @if let Some(summary) = &page.summary {
            h2 { "Summary and validation" }
            pre.summary { (summary) }
        }
    };
    let controls = html! {
        @if frame.may_act {
            section.actions {
                h2 { "Steer" }
                div.buttons {
                    @for (action, label, allowed) in [
                        ("pause", "Pause", ["running", "throttled"].contains(&run.status.as_str())),
                        ("continue", "Continue", run.status == "paused"),
                        ("cancel", "Cancel", ["running", "throttled", "paused"].contains(&run.status.as_str())),
                        ("abandon", "Abandon", ["interrupted", "cancelled", "failed"].contains(&run.status.as_str())),
                    ] {
                        @if allowed {
                            form method="post" action=(format!("/runs/{}/{action}", run.id)) {
                                button type="submit" id=(action) { (label) }
                            }
                        }
                    }
                }
                form.settings method="post" action=(format!("/runs/{}/settings", run.id)) {
                    @for (name, value) in page.current {
                        label { (name) input name=(name) placeholder=(value.clone().unwrap_or_default()); }
                    }
                    button type="submit" id="apply-settings" { "Change settings" }
                }
            }
        }
    };
    layout(frame, &format!("Run {}", run.id), controls, live)
}

/// The anomalies, newest first, with their filter and resolve.
pub fn anomalies(frame: &Frame, filter: &AnomalyFilter, listed: &[ListedAnomaly]) -> Markup {
    let table = html! {
        table.anomalies {
            thead { tr {
                @if frame.may_act { th {} }
                th { "Id" } th { "Table" } th { "Row" } th { "Kind" } th { "Issue" } th { "Run" } th { "Last seen" } th { "Resolved" }
            } }
            tbody { @for anomaly in listed {
                tr {
                    @if frame.may_act { td { @if !anomaly.resolved {
                        input type="checkbox" name="id" value=(anomaly.id) form="resolve";
                    } } }
                    td { (anomaly.id) }
                    td { (anomaly.table) }
                    td { (anomaly.row_id.clone().unwrap_or_default()) }
                    td { (anomaly.kind) }
                    td.issue { (anomaly.issue) }
                    td { @if let Some(run) = anomaly.run_id { a href=(format!("/runs/{run}")) { (run) } } }
                    td { (anomaly.last_seen_at) }
                    td { @if anomaly.resolved { "yes" } }
                }
            } }
        }
    };
    let controls = html! {
        form.filter method="get" action="/anomalies" {
            label { "Table " input name="table" value=(filter.table.clone().unwrap_or_default()); }
            label { "Kind " input name="kind" value=(filter.kind.clone().unwrap_or_default()); }
            label { "Run " input name="run" value=(filter.run.clone().unwrap_or_default()); }
            label { input type="checkbox" name="all" value="1" checked[filter.all]; " resolved too" }
            button type="submit" { "Filter" }
        }
        @if frame.may_act {
            form #resolve method="post" action="/anomalies/resolve" {
                button type="submit" { "Resolve the ticked anomalies" }
            }
        }
    };
    layout(frame, "Anomalies", controls, table)
}

/// A run's tables or phases added up.
struct Totals {
    rows: u64,
    estimate: Option<u64>,
    rate: Option<f64>,
    eta: Option<u64>,
    held: Option<String>,
}

impl Totals {
    /// The rows and estimates summed; the rates of the units at work summed, and their
    /// ETAs (units not started yet have none, so the ETA is a floor); the first hold.
    fn of(units: &[UnitView]) -> Self {
        let known = |values: Vec<Option<u64>>| values.into_iter().sum::<Option<u64>>();
        let some = |values: Vec<u64>| (!values.is_empty()).then(|| values.iter().sum());
        Self {
            rows: units.iter().map(|unit| unit.rows).sum(),
            estimate: known(units.iter().map(|unit| unit.estimate).collect()),
            rate: units
                .iter()
                .filter_map(|unit| unit.rows_per_second)
                .reduce(|total, rate| total + rate),
            eta: some(
                units
                    .iter()
                    .filter(|unit| !unit.done)
                    .filter_map(|unit| unit.eta_seconds)
                    .collect(),
            ),
            held: units.iter().find_map(|unit| unit.held.clone()),
        }
    }
}

fn progress(rows: u64, estimate: Option<u64>) -> Markup {
    match estimate.filter(|estimate| *estimate > 0) {
        Some(estimate) => {
            let percent = (rows as f64 * 100.0 / estimate as f64).min(100.0);
            html! {
                "Processed " (rows) " out of " (estimate) " (" (format!("{percent:.0}")) "%)"
                meter value=(format!("{percent:.0}")) max="100" {}
            }
        }
        None => html! { "Processed " (rows) },
    }
}

fn rate(rows_per_second: Option<f64>) -> String {
    rows_per_second.map_or_else(String::new, |rate| format!("{rate:.0} rows/s"))
}

fn eta(seconds: Option<u64>) -> String {
    seconds.map_or_else(String::new, |seconds| {
        humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
    })
}
