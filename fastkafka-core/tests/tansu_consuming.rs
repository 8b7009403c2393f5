//! A consumer group against Tansu, an independent Kafka-compatible broker: every
//! message is handled, an undecodable one is dead-lettered with its error, what was
//! processed is committed to the group, and a restarted app does not see it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastkafka::dead_letter_headers;
use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{committed_offsets, read_topic};
use fastkafka_test_support::Tansu;

const GROUP: &str = "tansu-readers";
const PARTITIONS: i32 = 3;

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Reading {
    sensor: String,
    value: u32,
}

static SEEN: Mutex<Vec<(u32, i32, i64)>> = Mutex::new(Vec::new());

#[consumes(
    topic = "readings",
    group_id = "tansu-readers",
    dead_letter = "readings_dlq"
)]
async fn on_readings(reading: Reading, meta: EventMetadata) {
    SEEN.lock()
        .unwrap()
        .push((reading.value, meta.partition, meta.offset));
}

fn app() -> FastKafka {
    FastKafka::builder()
        .title("tansu consuming")
        .topic("readings", PARTITIONS)
        // Not declared: the app creates its dead-letter topic (Tansu does not create
        // topics on first use).
        .build()
}

fn send(bootstrap: &str, values: std::ops::Range<u32>, garbage: bool) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for value in values {
        let payload = serde_json::to_vec(&Reading {
            sensor: format!("s{}", value % 5),
            value,
        })
        .unwrap();
        let key = format!("s{}", value % 5);
        producer
            .send(BaseRecord::to("readings").key(&key).payload(&payload))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    if garbage {
        producer
            .send(BaseRecord::to("readings").key("bad").payload("{not json"))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(15)).unwrap();
}

async fn wait_for_seen(count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while SEEN.lock().unwrap().len() < count {
        assert!(
            Instant::now() < deadline,
            "handled {} of {count}",
            SEEN.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_on_tansu_handles_commits_and_resumes_where_it_stopped() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();

    let running = app().start(&bootstrap).await.unwrap();
    send(&bootstrap, 0..200, true);
    wait_for_seen(200).await;
    // The undecodable message is dead-lettered, not handled and not lost.
    let b = bootstrap.clone();
    let dead = tokio::task::spawn_blocking(move || {
        read_topic(&b, "readings_dlq", 1, Duration::from_secs(30))
    })
    .await
    .unwrap()
    .unwrap();
    running.stop().await.unwrap();

    let mut values: Vec<u32> = SEEN.lock().unwrap().iter().map(|s| s.0).collect();
    values.sort();
    assert_eq!(
        values,
        (0..200).collect::<Vec<_>>(),
        "each message handled once"
    );
    // Order per partition: offsets rise within each partition.
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.1 == p)
            .map(|s| s.2)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {offsets:?}"
        );
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key.as_deref(), Some(&b"bad"[..]));
    assert_eq!(dead[0].payload.as_deref(), Some(&b"{not json"[..]));
    let header = |name: &str| dead[0].header(name);
    assert_eq!(
        header(dead_letter_headers::STAGE).as_deref(),
        Some("decode")
    );
    assert_eq!(
        header(dead_letter_headers::TOPIC).as_deref(),
        Some("readings")
    );

    // Everything processed (and the dead-lettered message) is committed: each
    // partition's commit is just past the last record read from it. (Tansu's high
    // watermark is not used: it said 1 for a partition holding 80 records.)
    let mut expected = vec![0i64; PARTITIONS as usize];
    for &(_, p, offset) in SEEN.lock().unwrap().iter() {
        expected[p as usize] = expected[p as usize].max(offset + 1);
    }
    let dead_partition: usize = header(dead_letter_headers::PARTITION)
        .unwrap()
        .parse()
        .unwrap();
    let dead_offset: i64 = header(dead_letter_headers::OFFSET)
        .unwrap()
        .parse()
        .unwrap();
    expected[dead_partition] = expected[dead_partition].max(dead_offset + 1);
    let b = bootstrap.clone();
    let offsets =
        tokio::task::spawn_blocking(move || committed_offsets(&b, GROUP, "readings", PARTITIONS))
            .await
            .unwrap()
            .unwrap();
    // (A partition that got no message has no commit.)
    let expected: Vec<Option<i64>> = expected.into_iter().map(|o| (o > 0).then_some(o)).collect();
    assert_eq!(offsets, expected, "committed offsets per partition");

    // A restart resumes from the commits: only the new messages arrive.
    SEEN.lock().unwrap().clear();
    let running = app().start(&bootstrap).await.unwrap();
    send(&bootstrap, 200..210, false);
    wait_for_seen(10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.stop().await.unwrap();
    let mut values: Vec<u32> = SEEN.lock().unwrap().iter().map(|s| s.0).collect();
    values.sort();
    assert_eq!(
        values,
        (200..210).collect::<Vec<_>>(),
        "nothing redelivered"
    );
}
