//! Background tasks: supervised, restarted after a panic or error, cancelled on stop.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::testing::read_to_end;

static PANICKY_RUNS: AtomicUsize = AtomicUsize::new(0);
static FAILING_RUNS: AtomicUsize = AtomicUsize::new(0);
static TICKS: AtomicUsize = AtomicUsize::new(0);

/// Panics on its first two runs, then produces one message and ends.
#[run_in_background]
async fn panics_twice() {
    let run = PANICKY_RUNS.fetch_add(1, Ordering::SeqCst);
    if run < 2 {
        panic!("boom number {run}");
    }
    to_recovered(run as u64).await.unwrap().await.unwrap();
}

/// Fails once and must not be restarted.
#[run_in_background(restart = "never")]
async fn fails_once() -> Result<(), std::io::Error> {
    FAILING_RUNS.fetch_add(1, Ordering::SeqCst);
    Err(std::io::Error::other("disk on fire"))
}

/// Runs forever until cancelled, producing every 10 ms.
#[run_in_background]
async fn ticker() -> fastkafka::Result<()> {
    loop {
        drop(to_ticks(TICKS.fetch_add(1, Ordering::SeqCst) as u64).await?);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[produces]
async fn to_recovered(run: u64) -> u64 {
    run
}

#[produces]
async fn to_ticks(n: u64) -> u64 {
    n
}

/// Captures log output so the test can check what an operator would read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_tasks_are_logged_by_name_restarted_or_left_stopped_and_cancelled_on_stop() {
    let _turn = fastkafka::testing::exclusive().await;
    let logs = Captured::default();
    let writer = logs.clone();
    // Global: the tasks log from the runtime's worker threads.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();
    let broker = EmbeddedBroker::start().unwrap();
    let app = FastKafka::builder()
        .shutdown_grace(Duration::from_secs(2))
        .build();
    let running = app.start(broker.bootstrap_servers()).await.unwrap();

    // Restarted after two panics (backoff 0.5 s then 1 s), then it produced.
    let recovered = tokio::task::spawn_blocking({
        let bootstrap = broker.bootstrap_servers().to_string();
        move || fastkafka::testing::read_topic(&bootstrap, "recovered", 1, Duration::from_secs(20))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(recovered.len(), 1, "the panicking task was not restarted");
    assert_eq!(recovered[0].payload_text(), "2");
    assert_eq!(PANICKY_RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(
        FAILING_RUNS.load(Ordering::SeqCst),
        1,
        "restart = \"never\" was restarted"
    );

    let report = running.stop().await.unwrap();
    assert_eq!(report.tasks_not_stopped, 0);
    let ticks_at_stop = TICKS.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        TICKS.load(Ordering::SeqCst),
        ticks_at_stop,
        "the ticker still runs after stop"
    );
    // Every tick queued before the stop was flushed to the broker.
    let ticks = read_to_end(broker.bootstrap_servers(), "ticks", Duration::from_secs(10)).unwrap();
    assert_eq!(ticks.len(), ticks_at_stop);

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "background task panicked task=\"panics_twice\" panic=\"boom number 0\"",
        "background task panicked task=\"panics_twice\" panic=\"boom number 1\"",
        "restarting background task task=\"panics_twice\"",
        "background task failed task=\"fails_once\" error=disk on fire",
        "not restarting background task (restart = \"never\") task=\"fails_once\"",
        "cancelling background task task=\"ticker\"",
    ] {
        assert!(
            logs.contains(expected),
            "missing log line {expected:?} in:\n{logs}"
        );
    }
}
