//! Consumers under faults, counted at the broker: a broker that comes back without its
//! data, and an output too large to be written anywhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fastkafka::dead_letter_headers;
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{capture_logs, committed_offsets, eventually, exclusive, read_to_end};

/// Payloads `on_restarted` handled, in order.
static RESTARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[consumes(topic = "restarted")]
async fn on_restarted(text: String) {
    RESTARTED.lock().unwrap().push(text);
}

static BIG_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Writes what it is given to `big_out`; a payload over the producer's 1 MB
/// `message.max.bytes` cannot be written.
#[produces(topic = "big_out")]
async fn to_big_out(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

#[consumes(topic = "big_in", dead_letter = "big_dlq", retries = 3)]
async fn on_big_in(bytes: Vec<u8>) -> fastkafka::Result<()> {
    BIG_CALLS.fetch_add(1, Ordering::SeqCst);
    to_big_out(bytes).await?.await?;
    Ok(())
}

const TOPICS: [&str; 4] = ["restarted", "big_in", "big_out", "big_dlq"];

fn app() -> FastKafka {
    capture_logs();
    FastKafka::builder().title("consumer fault tests").build()
}

fn produce(bootstrap: &str, topic: &str, payloads: &[Vec<u8>]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    for p in payloads {
        producer
            .send(BaseRecord::<(), [u8]>::to(topic).payload(&p[..]))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn texts(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}-{i}").into_bytes())
        .collect()
}

fn broker_on(port: u16) -> EmbeddedBroker {
    let mut broker = EmbeddedBroker::with_partitions(1).unwrap();
    broker.listen_on(port).unwrap();
    for t in TOPICS {
        broker.create_topic(t, 1).unwrap();
    }
    broker
}

/// What the app's group committed for a 1-partition topic.
async fn committed(bootstrap: &str, topic: &'static str) -> Option<i64> {
    let (b, group) = (bootstrap.to_string(), app().group_id());
    tokio::task::spawn_blocking(move || committed_offsets(&b, &group, topic, 1).ok()?[0])
        .await
        .unwrap()
}

/// A broker restarted without its data (a dev broker, an unclean leader election, a
/// topic recreated) has a log that starts again at 0. The consumer's progress in the
/// old log must not be committed into the new one, where it would skip as many new
/// messages.
#[tokio::test(flavor = "multi_thread")]
async fn after_its_broker_restarts_empty_a_consumer_processes_every_new_message() {
    let _turn = exclusive().await;
    RESTARTED.lock().unwrap().clear();
    let port = fastkafka::testing::free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let first = broker_on(port);
    produce(&bootstrap, "restarted", &texts("old", 100));
    let running = app().start(&bootstrap).await.unwrap();
    eventually("100 old messages handled", Duration::from_secs(30), || {
        RESTARTED.lock().unwrap().len() >= 100
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while committed(&bootstrap, "restarted").await != Some(100) {
        assert!(std::time::Instant::now() < deadline, "100 never committed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The broker dies with its data; the consumer's group membership and its next
    // commits fail meanwhile.
    drop(first);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _second = broker_on(port);
    // The consumer rejoins the new broker's (empty) group before new messages arrive.
    tokio::time::sleep(Duration::from_secs(5)).await;
    produce(&bootstrap, "restarted", &texts("new", 300));

    let handled_new = || {
        RESTARTED
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.starts_with("new-"))
            .cloned()
            .collect::<std::collections::BTreeSet<String>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed(&bootstrap, "restarted").await != Some(300) {
        if std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = running.stop().await.unwrap();
    let new = handled_new();
    let missing: Vec<usize> = (0..300)
        .filter(|i| !new.contains(&format!("new-{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of 300 new messages were never processed (first: {:?}); committed: {:?}",
        missing.len(),
        missing.first(),
        committed(&bootstrap, "restarted").await
    );
    assert_eq!(committed(&bootstrap, "restarted").await, Some(300));
    assert!(report.consumed.handled >= 400, "{:?}", report.consumed);
}

/// An input whose output is over the producer's size limit fails permanently, and so
/// does its dead-letter write with the same payload. The partition must move on: the
/// input is dead-lettered without its payload, its size and the error in headers.
#[tokio::test(flavor = "multi_thread")]
async fn an_input_whose_output_is_too_large_is_dead_lettered_without_payload_and_its_partition_moves_on(
) {
    let _turn = exclusive().await;
    BIG_CALLS.store(0, Ordering::SeqCst);
    const BIG: usize = 2 << 20;
    let broker = broker_on(fastkafka::testing::free_port());
    let bootstrap = broker.bootstrap_servers().to_string();
    let big = vec![b'x'; BIG];
    produce(
        &bootstrap,
        "big_in",
        &[
            b"small-0".to_vec(),
            big.clone(),
            b"small-2".to_vec(),
            big,
            b"small-4".to_vec(),
        ],
    );
    let running = app().start(&bootstrap).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed(&bootstrap, "big_in").await != Some(5) {
        assert!(
            std::time::Instant::now() < deadline,
            "the partition never committed past the oversized messages: {:?}",
            committed(&bootstrap, "big_in").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = running.stop().await.unwrap();

    let out = read_to_end(&bootstrap, "big_out", Duration::from_secs(10)).unwrap();
    let out: Vec<String> = out.iter().map(|r| r.payload_text()).collect();
    assert_eq!(out, ["small-0", "small-2", "small-4"]);

    let dlq = read_to_end(&bootstrap, "big_dlq", Duration::from_secs(10)).unwrap();
    assert_eq!(dlq.len(), 2, "{dlq:?}");
    for (record, offset) in dlq.iter().zip(["1", "3"]) {
        let header = |name: &str| record.header(name);
        assert_eq!(record.payload.as_deref().unwrap_or_default(), b"");
        assert_eq!(header(dead_letter_headers::OFFSET).as_deref(), Some(offset));
        // The handler returned the output's queueing error with `?`: still an output
        // failure.
        assert_eq!(
            header(dead_letter_headers::STAGE).as_deref(),
            Some("output")
        );
        assert_eq!(
            header(dead_letter_headers::ORIGINAL_SIZE),
            Some(BIG.to_string())
        );
        let why = header(dead_letter_headers::DEAD_LETTER_ERROR).unwrap_or_default();
        assert!(why.contains("too large"), "{why}");
    }
    // A permanent error is not retried: one call per message.
    assert_eq!(BIG_CALLS.load(Ordering::SeqCst), 5);
    assert_eq!(report.consumed.handled, 3);
    assert_eq!(report.consumed.dead_lettered, 2);
    assert_eq!(report.consumed.dead_lettered_without_payload, 2);
    assert_eq!(report.consumed.skipped, 0);
}
