//! `backfill`: batched, resumable, journaled data backfills on live SQLite and
//! PostgreSQL databases, with the validation that proves them.
//!
//! | module | owns |
//! |---|---|
//! | `cli`, `commands` | the command line (clap) and one function per subcommand: flags → settings → library call → report |
//! | `engine` | the batch engine both backfills run on |
//! | `jobs` | the two backfills, a folder each |
//! | `backend` | everything that differs between databases, a file per backend |
//! | `ledger`, `anomalies` | the run ledger (checkpoints, resume) and the anomaly log |
//! | `validate`, `schema`, `migrate` | `validate`, entity/schema drift, `migrate` |
//! | `seed`, `demo` | `seed` and `demo` |
//! | `console` | `serve`: the web console of runs |
//! | `settings` | the settings a run takes while it works (`runs set`, `--window`) and their history |
//! | `metrics`, `notify` | Prometheus metrics of a run (`--metrics-addr`); its status changes POSTed (`--notify`) |
//! | `report`, `logging`, `error` | summaries on stdout, logs on stderr, exit codes |

pub mod anomalies;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod console;
pub mod demo;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod report;
pub mod runs;
pub mod schema;
pub mod seed;
pub mod settings;
pub mod validate;
