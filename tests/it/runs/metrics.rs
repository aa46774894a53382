//! The Prometheus endpoint of a working run (`--metrics-addr`).

use std::time::{Duration, Instant};

use super::*;

/// What the metrics endpoint at `addr` answers, once it answers.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream
                .write_all(request.as_bytes())
                .expect("send the scrape");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("read the scrape");
            return answer;
        }
        assert!(Instant::now() < deadline, "no metrics at {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rows walked so far, summed over the tables, as the metrics say.
fn rows_in(scraped: &str) -> u64 {
    scraped
        .lines()
        .filter(|line| line.starts_with("backfill_rows_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

scenario!(grow_while_a_run_works on sqlite);
/// The metrics endpoint answers while a run works, with counters that grow.
async fn grow_while_a_run_works(backend: Backend) {
    let (tdb, db) = seeded(backend, "metrics").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = PAUSABLE.to_vec();
    args.extend(["--metrics-addr", &addr]);
    let mut child = tdb.spawn_json(&args);
    wait_for_batches(&db, &mut child, 2).await;
    let first = scrape(&addr);
    assert!(first.contains("200 OK"), "{first}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = scrape(&addr);
    assert!(rows_in(&second) > rows_in(&first), "{first}\n---\n{second}");
    for metric in [
        "backfill_batches_total",
        "backfill_batch_duration_seconds_bucket",
        "backfill_batch_size",
        "backfill_held{reason=\"lock_waiters\"} 0",
    ] {
        assert!(second.contains(metric), "{metric}: {second}");
    }
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
}
