//! `serve`: the console, a web page of the database's runs to watch and steer (SPEC
//! §5.12). Server-rendered HTML (`maud` escapes every value it is given) on `tiny_http`,
//! the stack the run's metrics are served on; the page's style, script and charts
//! come from the binary, so it needs no network. Pages read the database on every
//! request and refresh their live part every two seconds.
//!
//! Safe by default: it listens on 127.0.0.1; an action (pause, continue, cancel,
//! abandon, settings, resolve) needs the token and a same-site request; `--read-only`
//! has none; database URLs are shown redacted, and nothing else that may hold a secret
//! (a run's record, with its `--notify` URLs) is shown.
//!
//! | module | owns |
//! |---|---|
//! | `http` | requests read, responses with their security headers |
//! | `pages` | the pages |
//! | `chart` | a run's history as SVG |

mod chart;
mod http;
mod pages;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tiny_http::Method;

use crate::backend::Db;
use crate::engine::Cancel;
use crate::error::UsageError;
use crate::runs::{self, Control};
use crate::settings::{self, Setting};
use crate::{anomalies, ledger};

use http::{Reply, Request};

/// Threads answering requests at once.
const THREADS: usize = 4;
/// Anomalies listed on a page at most.
const LISTED_ANOMALIES: u64 = 200;

/// How the console is served, resolved from the flags.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub addr: String,
    /// No actions at all.
    pub read_only: bool,
    /// What an action must carry; none when read-only.
    pub token: Option<String>,
}

/// What every page is drawn with.
struct Console {
    db: Db,
    settings: ConsoleSettings,
}

/// Serves the console until Ctrl-C; tells on stderr where (with the token, when there
/// is one) once it listens.
pub async fn serve(db: &Db, settings: ConsoleSettings, cancel: Cancel) -> Result<()> {
    let server = tiny_http::Server::http(&settings.addr).map_err(|err| {
        UsageError::new(format!(
            "--addr {}: cannot listen there ({err})",
            settings.addr
        ))
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .map_or_else(|| settings.addr.clone(), |addr| addr.to_string());
    match &settings.token {
        Some(token) => eprintln!(
            "backfill: the console is at http://{addr}/?token={token} (whoever has this link can act on runs; --read-only serves none)"
        ),
        None => eprintln!("backfill: the console is at http://{addr}/ (read-only)"),
    }
    let server = Arc::new(server);
    let console = Arc::new(Console {
        db: db.clone(),
        settings,
    });
    let runtime = tokio::runtime::Handle::current();
    for _ in 0..THREADS {
        let (server, console, runtime) = (server.clone(), console.clone(), runtime.clone());
        std::thread::spawn(move || {
            while let Ok(mut request) = server.recv() {
                let reply = match Request::read(&mut request) {
                    Ok(read) => runtime.block_on(console.route(&read)),
                    Err(why) => Reply::Refused(400, why),
                };
                let _ = request.respond(reply.into_response());
            }
        });
    }
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

impl Console {
    async fn route(&self, request: &Request) -> Reply {
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        let replied = match (&request.method, segments.as_slice()) {
            (Method::Get, _) if request.query.contains_key("token") => Ok(self.log_in(request)),
            (Method::Get, [""]) => self.runs(request).await,
            (Method::Get, ["runs", id]) => match id.parse() {
                Ok(id) => self.run(request, id).await,
                Err(_) => Ok(not_found()),
            },
            (Method::Get, ["anomalies"]) => self.anomalies(request).await,
            (Method::Get, ["assets", "console.css"]) => Ok(Reply::Asset(
                "text/css; charset=utf-8",
                include_str!("assets/console.css"),
            )),
            (Method::Get, ["assets", "console.js"]) => Ok(Reply::Asset(
                "text/javascript; charset=utf-8",
                include_str!("assets/console.js"),
            )),
            (Method::Post, path) => match self.refusal(request) {
                Some(refused) => Ok(refused),
                None => self.act(request, path).await,
            },
            _ => Ok(not_found()),
        };
        replied.unwrap_or_else(|err| Reply::Refused(error_status(&err), format!("{err:#}")))
    }

    /// `?token=…`: the token goes into a cookie of this site only, and the URL without
    /// it replaces the one that carried it.
    fn log_in(&self, request: &Request) -> Reply {
        let path = request.path.clone();
        match (&self.settings.token, request.query.get("token")) {
            (Some(token), Some(given)) if same(token, given) => {
                Reply::Redirect(path, Some(token.clone()))
            }
            _ => Reply::Refused(403, "that token is not this console's".into()),
        }
    }

    /// Whether `request` may act: `None` when it may.
    fn refusal(&self, request: &Request) -> Option<Reply> {
        if self.settings.read_only {
            return Some(Reply::Refused(
                403,
                "this console is read-only (--read-only): nothing was changed".into(),
            ));
        }
        if request.cross_site {
            return Some(Reply::Refused(
                403,
                "a request from another site is refused: nothing was changed".into(),
            ));
        }
        match (&self.settings.token, &request.token) {
            (Some(token), Some(given)) if same(token, given) => None,
            (_, None) => Some(Reply::Refused(
                401,
                "an action needs the console's token: open the link `serve` printed".into(),
            )),
            _ => Some(Reply::Refused(
                403,
                "that token is not this console's: nothing was changed".into(),
            )),
        }
    }

    /// Whether the page may offer actions to `request`.
    fn may_act(&self, request: &Request) -> bool {
        !self.settings.read_only
            && matches!((&self.settings.token, &request.token), (Some(token), Some(given)) if same(token, given))
    }

    async fn runs(&self, request: &Request) -> Result<Reply> {
        let listed = runs::list(&self.db, None, true).await?;
        Ok(Reply::Page(pages::runs(&self.frame(request), &listed)))
    }

    async fn run(&self, request: &Request, id: i64) -> Result<Reply> {
        let mut listed = runs::list(&self.db, Some(id), true).await?;
        let Some(run) = listed.pop() else {
            return Ok(not_found());
        };
        let record = ledger::find(&self.db, id).await?;
        let history = run.changes.clone().unwrap_or_default();
        let current = settings::current(&record.arguments, &history);
        let series = chart::series(&self.db, id).await?;
        let summary = (!record
            .counters
            .as_object()
            .is_none_or(|fields| fields.is_empty()))
        .then(|| serde_json::to_string_pretty(&record.counters).unwrap_or_default());
        let page = pages::RunPage {
            run: &run,
            current: &current,
            chart: chart::svg(&series),
            summary,
        };
        Ok(Reply::Page(pages::run(&self.frame(request), &page)))
    }

    async fn anomalies(&self, request: &Request) -> Result<Reply> {
        let given = |name: &str| request.query.get(name).filter(|value| !value.is_empty());
        let filter = pages::AnomalyFilter {
            table: given("table").cloned(),
            kind: given("kind").cloned(),
            run: given("run").cloned(),
            all: request.query.contains_key("all"),
        };
        let run = filter
            .run
            .as_deref()
            .map(str::parse::<i64>)
            .transpose()
            .map_err(|_| UsageError::new("run= takes a run's id"))?;
        let query = anomalies::AnomalyFilter {
            table: filter.table.as_deref(),
            kind: filter.kind.as_deref().map(str::parse).transpose()?,
            run,
            include_resolved: filter.all,
            limit: LISTED_ANOMALIES,
        };
        let listed = anomalies::list(&self.db, &query).await?;
        Ok(Reply::Page(pages::anomalies(
            &self.frame(request),
            &filter,
            &listed,
        )))
    }

    /// An action; back to the page it was taken from.
    async fn act(&self, request: &Request, path: &[&str]) -> Result<Reply> {
        let run_page = |id: i64| Reply::Redirect(format!("/runs/{id}"), None);
        match path {
            ["runs", id, action] => {
                let id: i64 = id.parse().map_err(|_| UsageError::new("no such run"))?;
                let control = match *action {
                    "pause" => Control::Pause,
                    "continue" => Control::Continue,
                    "cancel" => Control::Cancel,
                    "abandon" => Control::Abandon,
                    "settings" => {
                        let changes = self.changed_settings(request, id).await?;
                        if !changes.is_empty() {
                            let by = format!("{} (console)", settings::changed_by());
                            settings::change(&self.db, id, &changes, &by).await?;
                        }
                        return Ok(run_page(id));
                    }
                    _ => return Ok(not_found()),
                };
                runs::control(&self.db, id, control).await?;
                Ok(run_page(id))
            }
            ["anomalies", "resolve"] => {
                let ids = request
                    .form
                    .iter()
                    .filter(|(name, _)| name == "id")
                    .map(|(_, id)| id.parse::<i64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| UsageError::new("an anomaly id is not a number"))?;
                anomalies::resolve(&self.db, &ids).await?;
                Ok(Reply::Redirect("/anomalies".into(), None))
            }
            _ => Ok(not_found()),
        }
    }

    /// The settings of the form that differ from run `id`'s now; a value that cannot be
    /// read refuses them all.
    async fn changed_settings(&self, request: &Request, id: i64) -> Result<Vec<Setting>> {
        let record = ledger::find(&self.db, id).await?;
        let history = settings::history(&self.db, id).await?;
        let mut changes = Vec::new();
        for (name, now) in settings::current(&record.arguments, &history) {
            let Some(value) = request.field(name).map(str::trim).filter(|v| !v.is_empty()) else {
                continue;
            };
            let setting = Setting::parse(name, value)?;
            if now.as_deref() != Some(setting.value().as_str()) {
                changes.push(setting);
            }
        }
        Ok(changes)
    }

    fn frame(&self, request: &Request) -> pages::Frame {
        pages::Frame {
            database: self.db.url().to_string(),
            may_act: self.may_act(request),
            read_only: self.settings.read_only,
        }
    }
}

fn not_found() -> Reply {
    Reply::Refused(404, "there is no such page".into())
}

/// 400 for what the user asked wrong (a run that cannot be paused, a wrong value),
/// 500 for the rest.
fn error_status(err: &anyhow::Error) -> u16 {
    match err.downcast_ref::<UsageError>() {
        Some(_) => 400,
        None => 500,
    }
}

/// Whether `given` is `token`, in time that does not depend on where they differ.
fn same(token: &str, given: &str) -> bool {
    token.len() == given.len()
        && token
            .bytes()
            .zip(given.bytes())
            .fold(0, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// A token nobody guesses: 128 random bits in hex.
pub fn new_token() -> String {
    use rand::Rng;
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}
