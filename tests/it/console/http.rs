//! The console over HTTP: actions refused without the token, with a wrong one, from
//! another site or on a read-only console, and then nothing changes; the settings and
//! abandon of a stopped run with the token; no password on any page; user data shown as
//! text.

use super::*;

/// A run of `backfill-project-id` on `tdb`, cancelled after a few batches: stopped,
/// resumable, with ranges and history. Its id.
async fn cancelled_run(tdb: &TestDb, db: &Db) -> i64 {
    let mut child = tdb.spawn_json(&[
        "backfill-project-id",
        "--batch-size",
        "25",
        "--sleep",
        "0.05",
    ]);
    wait_for_batches(db, &mut child, 3).await;
    let id = int(db, "SELECT max(id) FROM backfill_runs").await;
    let out = tdb.cli_json(&["runs", "cancel", &id.to_string()]);
    assert_eq!(code(&out), 0, "cancel: {}", describe(&out));
    assert_eq!(code(&child.wait_with_output().unwrap()), 130);
    id
}

async fn status_of(db: &Db, id: i64) -> String {
    texts(
        db,
        &format!("SELECT status FROM backfill_runs WHERE id = {id}"),
    )
    .await
    .remove(0)
    .expect("a status")
}

scenario!(actions_need_the_token_from_this_site on sqlite, postgres, mysql);
/// Abandon and settings without the token (401), with a wrong one, or with the right
/// one from another site (403) change nothing; with the token from the console's own
/// page they act, and the change is kept with its author.
async fn actions_need_the_token_from_this_site(backend: Backend) {
    let (tdb, db) = seeded(backend, "console_token").await;
    let id = cancelled_run(&tdb, &db).await;
    let console = Console::start(&tdb.url, &[]);
    let abandon = format!("/runs/{id}/abandon");
    let settings = format!("/runs/{id}/settings");
    let (cookie, good) = with_token(TOKEN);
    let (_, wrong) = with_token("fedcba9876543210fedcba9876543210");
    let refused = [
        (vec![], 401),
        (vec![(cookie, wrong.as_str())], 403),
        (
            vec![(cookie, good.as_str()), ("Origin", "http://evil.example")],
            403,
        ),
        (
            vec![(cookie, good.as_str()), ("Sec-Fetch-Site", "cross-site")],
            403,
        ),
    ];
    for (headers, status) in &refused {
        for (path, form) in [(&abandon, ""), (&settings, "batch-size=7")] {
            let (got, body) = console.post(path, form, headers);
            assert_eq!(got, *status, "{path} with {headers:?}: {body}");
        }
        let (got, _) = console.post(&format!("/runs/{id}/pause?token={TOKEN}"), "", headers);
        assert!(
            got == 401 || got == 403,
            "a token in the URL of a post is no token"
        );
    }
    assert_eq!(status_of(&db, id).await, "cancelled");
    assert_eq!(int(&db, "SELECT count(*) FROM backfill_settings").await, 0);

    // The form field works like the cookie; the page's own origin passes.
    let origin = console.base.clone();
    let (got, body) = console.post(
        &settings,
        &format!("token={TOKEN}&batch-size=7&sleep=&window=22%3A00-06%3A00"),
        &[("Origin", &origin)],
    );
    assert_eq!(got, 303, "{body}");
    let changes = texts(
        &db,
        "SELECT setting || '=' || new_value || ' by ' || changed_by FROM backfill_settings ORDER BY id",
    )
    .await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes[0]
            .as_deref()
            .unwrap()
            .starts_with("batch-size=7 by "),
        "{changes:?}"
    );
    assert!(
        changes[1].as_deref().unwrap().contains("(console)"),
        "{changes:?}"
    );
    let (got, body) = console.post(&settings, "batch-size=nine", &[(cookie, &good)]);
    assert_eq!(got, 400, "{body}");
    assert!(body.contains("batch-size=nine"), "{body}");

    let (got, body) = console.post(&abandon, "", &[(cookie, &good)]);
    assert_eq!(got, 303, "{body}");
    assert_eq!(status_of(&db, id).await, "abandoned");

    // Resolve, from the anomalies page, likewise.
    exec(
        &db,
        "INSERT INTO backfill_anomalies (table_name, row_id, kind, issue_description) \
         VALUES ('tests', '7', 'invalid_json', 'not JSON')",
    )
    .await;
    let anomaly = int(&db, "SELECT max(id) FROM backfill_anomalies").await;
    let form = format!("id={anomaly}");
    let (got, _) = console.post("/anomalies/resolve", &form, &[]);
    assert_eq!(got, 401);
    let (got, body) = console.post("/anomalies/resolve", &form, &[(cookie, &good)]);
    assert_eq!(got, 303, "{body}");
    let open = format!(
        "SELECT count(*) FROM backfill_anomalies WHERE id = {anomaly} AND resolved = false"
    );
    assert_eq!(int(&db, &open).await, 0, "resolved");
    let (_, page) = console.get(&format!("/runs/{id}"));
    assert!(page.contains("batch-size"), "the history is on the page");
    assert!(page.contains("<polyline"), "the chart is on the page");
}

scenario!(a_read_only_console_has_no_actions on sqlite, postgres, mysql);
/// `--read-only` refuses every action, token or not, and its pages offer none.
async fn a_read_only_console_has_no_actions(backend: Backend) {
    let (tdb, db) = seeded(backend, "console_read_only").await;
    let id = cancelled_run(&tdb, &db).await;
    let console = Console::start(&tdb.url, &["--read-only"]);
    let (cookie, good) = with_token(TOKEN);
    for action in ["pause", "continue", "cancel", "abandon", "settings"] {
        let (got, body) = console.post(
            &format!("/runs/{id}/{action}"),
            "batch-size=7",
            &[(cookie, &good)],
        );
        assert_eq!(got, 403, "{action}: {body}");
        assert!(body.contains("read-only"), "{body}");
    }
    let (got, _) = console.post("/anomalies/resolve", "id=1", &[(cookie, &good)]);
    assert_eq!(got, 403);
    assert_eq!(status_of(&db, id).await, "cancelled");
    for path in ["/", &format!("/runs/{id}"), "/anomalies"] {
        let (got, page) = console.get(path);
        assert_eq!(got, 200, "{path}");
        assert!(!page.contains("method=\"post\""), "{path} offers an action");
    }
    let out = tdb.cli(&["serve", "--read-only", "--token", "x"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
}

scenario!(pages_show_no_password_and_user_data_as_text on sqlite, postgres, mysql);
/// With a password in the database URL (PostgreSQL: this server trusts local
/// connections, so it is never checked, only hidden), no page shows it; an anomaly
/// whose message carries markup is shown as text.
async fn pages_show_no_password_and_user_data_as_text(backend: Backend) {
    let (tdb, db) = seeded(backend, "console_secrets").await;
    let id = cancelled_run(&tdb, &db).await;
    exec(
        &db,
        "INSERT INTO backfill_anomalies (table_name, row_id, kind, issue_description) \
         VALUES ('tests', '7', 'invalid_json', '<script>alert(\"owned\")</script> & more')",
    )
    .await;
    let url = match backend {
        Backend::Postgres => tdb.url.replacen("://root@", "://root:hunter2@", 1),
        Backend::Sqlite | Backend::Mysql => tdb.url.clone(),
    };
    let console = Console::start(&url, &[]);
    for path in [
        "/".to_string(),
        format!("/runs/{id}"),
        "/anomalies".to_string(),
        "/anomalies?all=1&kind=invalid_json".to_string(),
    ] {
        let (got, page) = console.get(&path);
        assert_eq!(got, 200, "{path}");
        assert!(!page.contains("hunter2"), "{path} shows the password");
    }
    let (_, page) = console.get("/anomalies");
    assert!(
        page.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; &amp; more"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    let (got, _) = console.get("/anomalies?kind=%3Cscript%3E");
    assert_eq!(got, 400, "an unknown kind is refused in one sentence");
}
