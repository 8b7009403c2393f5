//! Consumer functions against the embedded broker: what they receive, how failures are
//! handled, and what is committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fastkafka::dead_letter_headers;
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::rdkafka::message::{Header, OwnedHeaders};
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{capture_logs, committed_offsets, eventually, exclusive, read_topic};

/// How long a test waits for what the app does in the background.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Reading {
    sensor: String,
    value: f64,
}

static RECEIVED: Mutex<Vec<(Reading, EventMetadata)>> = Mutex::new(Vec::new());
static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);
static BATCHES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static BATCH_TOTAL: AtomicUsize = AtomicUsize::new(0);
static COUNTED: Mutex<Vec<i64>> = Mutex::new(Vec::new());

#[consumes]
async fn on_readings(reading: Reading, meta: EventMetadata) {
    RECEIVED.lock().unwrap().push((reading, meta));
}

/// Fails twice, panics once, then succeeds, for every message whose value is 1;
/// always fails for value 2.
#[consumes(topic = "flaky", dead_letter = "flaky_dlq", retries = 3)]
async fn flaky(reading: Reading) -> Result<(), String> {
    FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
    if reading.value == 2.0 {
        return Err("value 2 is never accepted".into());
    }
    match FLAKY_CALLS.load(Ordering::SeqCst) {
        1 | 2 => Err("not yet".into()),
        3 => panic!("boom"),
        _ => Ok(()),
    }
}

#[consumes(topic = "batched", max_batch = 10, max_wait_ms = 200)]
async fn batched(readings: Vec<Reading>, metas: Vec<EventMetadata>) {
    assert_eq!(readings.len(), metas.len());
    BATCHES.lock().unwrap().push(readings.len());
    BATCH_TOTAL.fetch_add(readings.len(), Ordering::SeqCst);
}

/// Raw text payloads; skips (no dead letter) what is not UTF-8.
#[consumes(topic = "counted", group_id = "counters")]
async fn counted(text: String, meta: EventMetadata) {
    let _ = text;
    COUNTED.lock().unwrap().push(meta.offset);
}

/// `(partition, offset)` of every message `slow` finished, in order.
static SLOW: Mutex<Vec<(i32, i64)>> = Mutex::new(Vec::new());

/// Takes its time, so that a stop finds it with a message in hand.
#[consumes(topic = "slow")]
async fn slow(reading: Reading, meta: EventMetadata) {
    let _ = reading;
    tokio::time::sleep(Duration::from_millis(500)).await;
    SLOW.lock().unwrap().push((meta.partition, meta.offset));
}

fn produce(bootstrap: &str, topic: &str, records: &[(Option<&str>, Vec<u8>, Option<i32>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (key, payload, partition) in records {
        let headers = OwnedHeaders::new().insert(Header {
            key: "origin",
            value: Some("test"),
        });
        let mut record = BaseRecord::<str, Vec<u8>>::to(topic)
            .payload(payload)
            .headers(headers)
            .timestamp(1_700_000_000_123);
        if let Some(k) = key {
            record = record.key(*k);
        }
        if let Some(p) = partition {
            record = record.partition(*p);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn reading(sensor: &str, value: f64) -> Vec<u8> {
    serde_json::to_vec(&Reading {
        sensor: sensor.into(),
        value,
    })
    .unwrap()
}

/// Committed offsets per partition, 0 where nothing was committed yet.
fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    committed_offsets(bootstrap, group, topic, partitions)
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap_or(0))
        .collect()
}

fn app() -> FastKafka {
    capture_logs();
    FastKafka::builder().title("consuming tests").build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_receives_exactly_the_typed_messages_produced_with_their_metadata() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("readings", 3).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let sent: Vec<(Option<&str>, Vec<u8>, Option<i32>)> = (0..60)
        .map(|i| {
            (
                Some(["a", "b", "c", "d"][i % 4]),
                reading(["a", "b", "c", "d"][i % 4], i as f64),
                None,
            )
        })
        .collect();
    produce(bootstrap, "readings", &sent);
    let running = app().start(bootstrap).await.unwrap();
    eventually("60 readings", WAIT, move || {
        RECEIVED.lock().unwrap().len() >= 60
    })
    .await;
    // Committed while the app runs (every auto.commit.interval.ms, 1 s), not only at
    // stop: a worker killed now would not see these again.
    let group = app().group_id();
    let b = bootstrap.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (b, g) = (b.clone(), group.clone());
        let sum: i64 = tokio::task::spawn_blocking(move || committed(&b, &g, "readings", 3))
            .await
            .unwrap()
            .iter()
            .sum();
        if sum == 60 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "committed {sum} of 60 while running"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await.unwrap();

    let received = RECEIVED.lock().unwrap().clone();
    assert_eq!(received.len(), 60, "each message exactly once");
    let stored = read_topic(bootstrap, "readings", 60, Duration::from_secs(10)).unwrap();
    for r in &stored {
        let (reading, meta) = received
            .iter()
            .find(|(_, m)| m.partition == r.partition && m.offset == r.offset)
            .expect("every stored message was received");
        assert_eq!(&*meta.topic, "readings");
        assert_eq!(meta.key, r.key);
        assert_eq!(meta.headers, vec![("origin".to_string(), b"test".to_vec())]);
        assert_eq!(meta.timestamp, Some(1_700_000_000_123));
        assert_eq!(
            serde_json::to_vec(reading).unwrap(),
            r.payload.clone().unwrap()
        );
    }
    // Per partition, in offset order.
    for p in 0..3 {
        let offsets: Vec<i64> = received
            .iter()
            .filter(|(_, m)| m.partition == p)
            .map(|(_, m)| m.offset)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {offsets:?}"
        );
    }
    // Everything processed was committed.
    let group = app().group_id();
    let committed: i64 = committed(bootstrap, &group, "readings", 3).iter().sum();
    assert_eq!(committed, 60);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_handlers_are_retried_then_dead_lettered_and_panics_are_caught() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("flaky", 1).unwrap();
    produce(
        bootstrap,
        "flaky",
        &[
            (Some("one"), reading("s", 1.0), None),
            (Some("two"), reading("s", 2.0), None),
            (Some("bad"), b"{\"sensor\": 3}".to_vec(), None),
        ],
    );
    let running = app().start(bootstrap).await.unwrap();
    let dlq = tokio::task::spawn_blocking({
        let b = bootstrap.to_string();
        move || read_topic(&b, "flaky_dlq", 2, Duration::from_secs(30)).unwrap()
    })
    .await
    .unwrap();
    running.stop().await.unwrap();

    // value 1: two errors and a panic, then success on the 4th call; value 2: 1 + 3 retries.
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 4 + 4);
    assert_eq!(dlq.len(), 2);
    let header = |r: &fastkafka::testing::Record, name: &str| r.header(name).unwrap();
    let two = dlq
        .iter()
        .find(|r| r.key.as_deref() == Some(&b"two"[..]))
        .unwrap();
    assert_eq!(header(two, dead_letter_headers::STAGE), "handler");
    assert_eq!(
        header(two, dead_letter_headers::ERROR),
        "value 2 is never accepted"
    );
    assert_eq!(header(two, "origin"), "test", "original headers are kept");
    assert_eq!(two.payload.as_deref(), Some(&reading("s", 2.0)[..]));
    let bad = dlq
        .iter()
        .find(|r| r.key.as_deref() == Some(&b"bad"[..]))
        .unwrap();
    assert_eq!(header(bad, dead_letter_headers::STAGE), "decode");
    assert_eq!(header(bad, dead_letter_headers::OFFSET), "2");
    assert_eq!(committed(bootstrap, &app().group_id(), "flaky", 1), vec![3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_consumers_get_bounded_batches() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("batched", 1).unwrap();
    let sent: Vec<_> = (0..95)
        .map(|i| (None, reading("b", i as f64), None))
        .collect();
    produce(bootstrap, "batched", &sent);
    let running = app().start(bootstrap).await.unwrap();
    eventually("95 batched readings", WAIT, move || {
        BATCH_TOTAL.load(Ordering::SeqCst) >= 95
    })
    .await;
    running.stop().await.unwrap();
    let batches = BATCHES.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 95);
    assert!(
        batches.iter().all(|&n| (1..=10).contains(&n)),
        "{batches:?}"
    );
    assert!(batches.len() >= 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_app_resumes_from_the_committed_offsets_and_skips_undecodable_text() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("counted", 2).unwrap();
    let first: Vec<_> = (0..40)
        .map(|i| (None, format!("n{i}").into_bytes(), Some(i % 2)))
        .collect();
    produce(bootstrap, "counted", &first);
    let running = app().start(bootstrap).await.unwrap();
    eventually("40 counted", WAIT, move || {
        COUNTED.lock().unwrap().len() >= 40
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(committed(bootstrap, "counters", "counted", 2), vec![20, 20]);

    // While the app is down: 20 more, one of them not UTF-8 (skipped, not fatal).
    let mut second: Vec<_> = (40..59)
        .map(|i| (None, format!("n{i}").into_bytes(), Some(i % 2)))
        .collect();
    second.push((None, vec![0xff, 0xfe], Some(0)));
    produce(bootstrap, "counted", &second);
    let running = app().start(bootstrap).await.unwrap();
    eventually("59 counted", WAIT, move || {
        COUNTED.lock().unwrap().len() >= 59
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await.unwrap();
    assert_eq!(
        COUNTED.lock().unwrap().len(),
        59,
        "nothing processed twice, the bad one skipped"
    );
    // Partition 0 got 40, 42, .., 58 and the bad one; partition 1 got 41, .., 57.
    assert_eq!(committed(bootstrap, "counters", "counted", 2), vec![31, 29]);
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_an_app_commits_what_every_consumer_in_its_group_processed() {
    // `on_readings`, `batched` and `slow` share the app's group. At the stop, `slow`
    // still has a message in hand; the others are done at once. Those leaving the
    // group must not start a rebalance that fails `slow`'s final commit, which would
    // redeliver what it processed.
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    for topic in ["readings", "batched", "slow"] {
        broker.create_topic(topic, 2).unwrap();
    }
    let records: Vec<_> = (0..10)
        .map(|i| (None, reading("s", f64::from(i)), Some(i % 2)))
        .collect();
    produce(bootstrap, "readings", &records);
    produce(bootstrap, "batched", &records);
    let (readings_before, batched_before, slow_before) = (
        RECEIVED.lock().unwrap().len(),
        BATCH_TOTAL.load(Ordering::SeqCst),
        SLOW.lock().unwrap().len(),
    );
    let running = app().start(bootstrap).await.unwrap();
    eventually("the fast topics handled", WAIT, move || {
        RECEIVED.lock().unwrap().len() >= readings_before + 10
            && BATCH_TOTAL.load(Ordering::SeqCst) >= batched_before + 10
    })
    .await;
    // Members that join late rebalance the group, and the embedded broker refuses
    // commits while a group rebalances. A periodic commit of both fast topics means
    // the group has settled (every member joined a while ago): only now does `slow`
    // get work, so that the stop, not a rebalance, is what this test sees.
    let reader = bootstrap.to_string();
    eventually("the fast topics' periodic commits", WAIT, move || {
        committed(&reader, "consuming-tests", "readings", 2) == [5, 5]
            && committed(&reader, "consuming-tests", "batched", 2) == [5, 5]
    })
    .await;
    produce(bootstrap, "slow", &records[..4]);
    eventually("one slow message handled", WAIT, move || {
        SLOW.lock().unwrap().len() > slow_before
    })
    .await;
    // Stop at once: what counts is the final commit, not the periodic one.
    running.stop().await.unwrap();
    // A rebalance while members join can redeliver a message (at least once), so what
    // counts is the furthest offset handled per partition.
    let mut slow_handled = vec![0i64; 2];
    for &(p, offset) in &SLOW.lock().unwrap()[slow_before..] {
        slow_handled[p as usize] = slow_handled[p as usize].max(offset + 1);
    }
    assert_eq!(
        committed(bootstrap, "consuming-tests", "readings", 2),
        vec![5, 5]
    );
    assert_eq!(
        committed(bootstrap, "consuming-tests", "batched", 2),
        vec![5, 5]
    );
    assert_eq!(
        committed(bootstrap, "consuming-tests", "slow", 2),
        slow_handled,
        "every slow message handled, and no other, is committed: {:?}",
        &SLOW.lock().unwrap()[slow_before..]
    );
}
