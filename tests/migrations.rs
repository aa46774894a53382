mod common;
use common::*;

#[test]
fn placeholder() {
    let _ = Backend::Sqlite;
}
