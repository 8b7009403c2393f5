//! Partition routing, checked at the broker: where each message actually landed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::partition::partition_for_key;
use fastkafka::prelude::*;
use fastkafka::testing::{exclusive, read_to_end};
use fastkafka::{Error, KeylessStrategy};

const READ: Duration = Duration::from_secs(30);

#[produces(topic = "keyed")]
async fn keyed(key: Vec<u8>, n: u32) -> KafkaEvent<u32> {
    KafkaEvent::new(n).key(key)
}

#[produces(topic = "pinned")]
async fn pinned(partition: i32, n: u32) -> KafkaEvent<u32> {
    KafkaEvent::new(n).partition(partition)
}

#[produces(topic = "rotating", keyless = "round_robin")]
async fn rotating(n: u32) -> u32 {
    n
}

#[produces(topic = "scattered", keyless = "random")]
async fn scattered(n: u32) -> u32 {
    n
}

/// Follows the app's strategy (sticky unless the app says otherwise).
#[produces(topic = "app_default")]
async fn app_default(n: u32) -> u32 {
    n
}

fn last_byte(key: Option<&[u8]>, partition_count: i32) -> i32 {
    key.and_then(|k| k.last())
        .map_or(0, |b| i32::from(*b) % partition_count)
}

fn always_seven(_: Option<&[u8]>, _: i32) -> i32 {
    7
}

#[produces(topic = "custom", partitioner = last_byte)]
async fn custom(key: &'static [u8]) -> KafkaEvent<String> {
    KafkaEvent::new("x".to_string()).key(key)
}

#[produces(topic = "broken", partitioner = always_seven)]
async fn broken(n: u32) -> u32 {
    n
}

/// Deterministic pseudo-random keys of 1 to 40 bytes.
fn keys(count: usize) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = 1 + (next() % 40) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn keyed_messages_land_where_the_java_client_puts_them() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("keyed", 7).unwrap();
    let running = FastKafka::builder()
        .build()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    let keys = keys(10_000);
    let mut pending = Vec::with_capacity(keys.len());
    for (n, key) in keys.iter().enumerate() {
        pending.push(keyed(key.clone(), n as u32).await.unwrap());
    }
    for p in pending {
        p.await.unwrap();
    }
    running.stop().await.unwrap();

    let records = read_to_end(broker.bootstrap_servers(), "keyed", READ).unwrap();
    assert_eq!(records.len(), 10_000);
    let mut per_partition = [0usize; 7];
    for r in &records {
        let key = r.key.as_deref().unwrap();
        assert_eq!(r.partition, partition_for_key(key, 7), "key {key:?}");
        per_partition[r.partition as usize] += 1;
    }
    assert!(per_partition.iter().all(|&n| n > 1000), "{per_partition:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_partitions_land_exactly_and_out_of_range_ones_send_nothing() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("pinned", 3).unwrap();
    let running = FastKafka::builder()
        .build()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    let plan = [1, 1, 1, 2, 2, 0];
    for (n, partition) in plan.iter().enumerate() {
        let d = pinned(*partition, n as u32).await.unwrap().await.unwrap();
        assert_eq!(d.partition, *partition);
    }
    for bad in [3, 17, -1] {
        let err = pinned(bad, 99).await.unwrap_err();
        assert!(
            matches!(err, Error::PartitionOutOfRange { partition, partition_count: 3, .. } if partition == bad),
            "{err:?}"
        );
        assert!(err.to_string().contains("which has 3 partitions"), "{err}");
    }
    running.stop().await.unwrap();
    let records = read_to_end(broker.bootstrap_servers(), "pinned", READ).unwrap();
    assert_eq!(
        records.len(),
        plan.len(),
        "an out-of-range message reached the topic"
    );
    for (n, partition) in plan.iter().enumerate() {
        let r = records
            .iter()
            .find(|r| r.payload_text() == n.to_string())
            .unwrap();
        assert_eq!(r.partition, *partition);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_spreads_keyless_messages_exactly_evenly() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("rotating", 4).unwrap();
    let running = FastKafka::builder()
        .build()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    let mut order = Vec::new();
    for n in 0..(25 * 4) {
        order.push(rotating(n).await.unwrap().await.unwrap().partition);
    }
    running.stop().await.unwrap();
    assert_eq!(&order[..8], &[0, 1, 2, 3, 0, 1, 2, 3]);
    let records = read_to_end(broker.bootstrap_servers(), "rotating", READ).unwrap();
    let mut counts: HashMap<i32, usize> = HashMap::new();
    for r in &records {
        assert_eq!(r.key, None);
        *counts.entry(r.partition).or_default() += 1;
    }
    assert_eq!(counts, HashMap::from([(0, 25), (1, 25), (2, 25), (3, 25)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn random_and_app_wide_strategies_reach_every_partition() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("scattered", 3).unwrap();
    broker.create_topic("app_default", 3).unwrap();
    let app = FastKafka::builder()
        .keyless_strategy(KeylessStrategy::RoundRobin)
        .build();
    let running = app.start(broker.bootstrap_servers()).await.unwrap();
    for n in 0..300 {
        drop(scattered(n).await.unwrap());
    }
    for n in 0..9 {
        drop(app_default(n).await.unwrap());
    }
    running.stop().await.unwrap();
    let scattered = read_to_end(broker.bootstrap_servers(), "scattered", READ).unwrap();
    let mut counts = [0usize; 3];
    scattered
        .iter()
        .for_each(|r| counts[r.partition as usize] += 1);
    assert!(
        counts.iter().all(|&n| n > 50),
        "random is lopsided: {counts:?}"
    );
    let default = read_to_end(broker.bootstrap_servers(), "app_default", READ).unwrap();
    let mut counts = [0usize; 3];
    default
        .iter()
        .for_each(|r| counts[r.partition as usize] += 1);
    assert_eq!(
        counts,
        [3, 3, 3],
        "the app-wide round robin was not applied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_partitioners_are_honoured_and_out_of_range_results_are_errors() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("custom", 5).unwrap();
    broker.create_topic("broken", 5).unwrap();
    let running = FastKafka::builder()
        .build()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    for key in [&b"a1"[..], b"b2", b"c3", b"d4", b"e9"] {
        let d = custom(key).await.unwrap().await.unwrap();
        assert_eq!(d.partition, last_byte(Some(key), 5));
    }
    let err = broken(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PartitionerOutOfRange {
                function: "broken",
                partition: 7,
                partition_count: 5,
                ..
            }
        ),
        "{err:?}"
    );
    running.stop().await.unwrap();
    let records = read_to_end(broker.bootstrap_servers(), "custom", READ).unwrap();
    for r in &records {
        assert_eq!(r.partition, last_byte(r.key.as_deref(), 5));
    }
    assert_eq!(records.len(), 5);
    assert!(
        read_to_end(broker.bootstrap_servers(), "broken", Duration::from_secs(3))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_on_delivery_hook_sees_every_report() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("keyed", 7).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let (s, f) = (Arc::clone(&seen), Arc::clone(&failures));
    let app = FastKafka::builder()
        .on_delivery(move |report| match report.error {
            None => s.lock().unwrap().push((
                report.key.map(<[u8]>::to_vec),
                report.partition,
                report.offset,
            )),
            Some(_) => {
                f.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build();
    let running = app.start(broker.bootstrap_servers()).await.unwrap();
    let mut deliveries = Vec::new();
    for n in 0..50u32 {
        let key = format!("user{n}").into_bytes();
        deliveries.push((key.clone(), keyed(key, n).await.unwrap().await.unwrap()));
    }
    running.stop().await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 50);
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    for (key, d) in deliveries {
        assert!(seen.contains(&(Some(key), d.partition, d.offset)));
    }
}
