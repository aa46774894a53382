//! What the topics share: a real database per test ([`TestDb`]), the real binary run
//! against it, SQL read back as plain values, the rows and datasets tests start from,
//! where a run leaves the database, and the few calls into the `backfill` library.
//! Everything is re-exported here: a topic module starts with `use crate::support::*`.

mod analytics;
mod cli;
mod database;
mod library;
mod outcome;
mod scratch_postgres;
mod sql;

pub use analytics::*;
pub use cli::*;
pub use database::*;
pub use library::*;
pub use outcome::*;
pub use scratch_postgres::*;
pub use sql::*;

/// Declares on which backends a scenario runs, written just above it: for a scenario
/// `async fn name(backend: Backend)` of the same module, `scenario!(name on sqlite,
/// postgres)` makes the tests `name::sqlite` and `name::postgres`, each on a tokio
/// runtime of two worker threads (`; worker_threads = N` for another count).
macro_rules! scenario {
    (@backend sqlite) => {
        $crate::support::Backend::Sqlite
    };
    (@backend postgres) => {
        $crate::support::Backend::Postgres
    };
    (@backend mysql) => {
        $crate::support::Backend::Mysql
    };
    ($scenario:ident on $($backend:ident),+ $(,)?) => {
        $crate::support::scenario!($scenario on $($backend),+; worker_threads = 2);
    };
    ($scenario:ident on $($backend:ident),+; worker_threads = $threads:tt) => {
        mod $scenario {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $backend() {
                    super::$scenario($crate::support::scenario!(@backend $backend)).await;
                }
            )+
        }
    };
}
pub(crate) use scenario;
