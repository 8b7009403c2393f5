//! Rebalance hooks (`on_partitions_assigned`, `on_partitions_revoked`): what they are
//! called with, when, and what their failures do, checked at the broker.
//!
//! The whole log is captured (one global subscriber) and read back; each test builds
//! its apps from its own functions (`only`), on a broker of its own. The two-instance
//! scenario (`rebalance/two_instances.rs`) runs on a real Kafka cluster too, in
//! fastkafka-cli's `real_kafka` binary.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::testing::{eventually, read_topic};
use fastkafka::Error;

#[path = "rebalance/two_instances.rs"]
mod two_instances;
use two_instances::{produce, two_instances, WAIT};

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("fastkafka=info")
        .with_ansi(false)
        .with_writer(|| Captured)
        .try_init();
}

fn log_lines(containing: &str) -> Vec<String> {
    String::from_utf8_lossy(&LOG.lock().unwrap())
        .lines()
        .filter(|l| l.contains(containing))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_see_every_partition_then_a_revoke_after_the_last_commit_then_the_split() {
    capture();
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("hooked", 4).unwrap();
    // The embedded broker gives a member its session timeout (2 s) to rejoin.
    two_instances(
        broker.bootstrap_servers(),
        false,
        Duration::from_millis(1500),
    )
    .await;
}

/// Handled offsets of `flaky`, by partition.
#[derive(Clone, Default)]
struct Flaky(Arc<(Handled, AtomicU32)>);

/// (partition, offset) of each handled message.
type Handled = Mutex<Vec<(i32, i64)>>;

#[consumes(topic = "flaky", group_id = "flaky-hooks")]
async fn on_flaky(msg: String, meta: EventMetadata, flaky: State<Flaky>) {
    let _ = msg;
    flaky
        .0
         .0
        .lock()
        .unwrap()
        .push((meta.partition, meta.offset));
}

/// Its assign hook fails the first time and overruns its timeout after; its revoke
/// hook panics.
fn flaky_app(flaky: &Flaky) -> FastKafka {
    FastKafka::builder()
        .only(["on_flaky"])
        .state(flaky.clone())
        .rebalance_hook_timeout(Duration::from_millis(300))
        .on_partitions_assigned(|_: RebalanceEvent, flaky: State<Flaky>| async move {
            if flaky.0 .1.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err("the store is down".to_string());
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .on_partitions_revoked(|event: RebalanceEvent| async move {
            if !event.partitions.is_empty() {
                panic!("cannot save partitions {:?}", event.partitions);
            }
        })
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_panicking_or_slow_hook_is_logged_and_consumption_goes_on() {
    capture();
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("flaky", 2).unwrap();
    let flaky = Flaky::default();
    // Distinct messages handled (a rebalance may deliver some twice).
    let count = |f: &Flaky| f.0 .0.lock().unwrap().iter().collect::<BTreeSet<_>>().len();

    let a = flaky_app(&flaky).start(bootstrap).await.unwrap();
    produce(bootstrap, "flaky", 2, 5);
    let f = flaky.clone();
    eventually("10 messages handled", WAIT, move || count(&f) == 10).await;
    let failed = log_lines("the partitions-assigned hook of `on_flaky` failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("for partitions [0, 1] of `flaky`: the store is down")
            && failed[0].contains("the partitions are consumed regardless"),
        "{}",
        failed[0]
    );

    // The second instance makes the first hand its partitions over: the revoke hook
    // panics, the assign hooks overrun their 300 ms.
    let b = flaky_app(&flaky).start(bootstrap).await.unwrap();
    eventually("the panic and the overrun to be logged", WAIT, || {
        !log_lines("the partitions-revoked hook of `on_flaky` panicked").is_empty()
            && !log_lines("the partitions-assigned hook of `on_flaky` did not finish").is_empty()
    })
    .await;
    let panicked = log_lines("the partitions-revoked hook of `on_flaky` panicked").remove(0);
    assert!(
        panicked.contains("for partitions [0, 1] of `flaky`: cannot save partitions [0, 1]")
            && panicked.contains("the partitions are handed over regardless"),
        "{panicked}"
    );
    let slow = log_lines("the partitions-assigned hook of `on_flaky` did not finish").remove(0);
    assert!(slow.contains("within 300ms"), "{slow}");

    produce(bootstrap, "flaky", 2, 5);
    let f = flaky.clone();
    eventually("20 messages handled", WAIT, move || count(&f) == 20).await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let mut handled = flaky.0 .0.lock().unwrap().clone();
    handled.sort_unstable();
    handled.dedup();
    let expected: Vec<(i32, i64)> = (0..2).flat_map(|p| (0..10).map(move |o| (p, o))).collect();
    assert_eq!(handled, expected, "every message handled");
}

#[consumes(topic = "logged", group_id = "logged-hooks")]
async fn on_logged(msg: String) {
    let _ = msg;
}

#[produces(topic = "hook_log")]
async fn to_hook_log(line: String) -> String {
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_can_send_with_a_producer_function() {
    capture();
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("logged", 3).unwrap();
    broker.create_topic("hook_log", 1).unwrap();
    let running = FastKafka::builder()
        .only(["on_logged", "to_hook_log"])
        .on_partitions_assigned(|event: RebalanceEvent| async move {
            to_hook_log(format!("assigned {:?}", event.partitions))
                .await?
                .await?;
            Ok::<_, Error>(())
        })
        .on_partitions_revoked(|event: RebalanceEvent| async move {
            to_hook_log(format!("revoked {:?}", event.partitions))
                .await?
                .await?;
            Ok::<_, Error>(())
        })
        .build()
        .start(bootstrap)
        .await
        .unwrap();
    let first = read_topic(bootstrap, "hook_log", 1, WAIT).unwrap();
    assert_eq!(first[0].payload_text(), "assigned [0, 1, 2]");
    running.stop().await.unwrap();
    let lines: Vec<String> = read_topic(bootstrap, "hook_log", 2, WAIT)
        .unwrap()
        .iter()
        .map(|r| r.payload_text())
        .collect();
    assert_eq!(lines, ["assigned [0, 1, 2]", "revoked [0, 1, 2]"]);
}

/// Given to no app.
struct Missing;

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_taking_a_missing_state_or_too_long_a_timeout_stops_the_start() {
    let err = FastKafka::builder()
        .only(["on_logged"])
        .on_partitions_revoked(|_: RebalanceEvent, _: State<Missing>| async {})
        .build()
        .start("localhost:1")
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::MissingState { .. }), "{err:?}");
    assert!(
        text.contains("the partitions-revoked hook") && text.contains("Missing"),
        "{text}"
    );

    let broker = EmbeddedBroker::start().unwrap();
    let err = FastKafka::builder()
        .only(["on_logged"])
        .consumer_config("max.poll.interval.ms", "60000")
        .rebalance_hook_timeout(Duration::from_secs(60))
        .on_partitions_assigned(|_: RebalanceEvent| async {})
        .build()
        .start(broker.bootstrap_servers())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        text.contains("consumer `on_logged`") && text.contains("max.poll.interval.ms is 60000 ms"),
        "{text}"
    );
}
