//! The consume runs: a `#[consumes]` handler against a raw `StreamConsumer`, both
//! decoding the same JSON from a topic filled beforehand.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastkafka::prelude::*;
use fastkafka::rdkafka::consumer::{Consumer, StreamConsumer};
use fastkafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::rdkafka::Message as _;

use super::measure::{cpu_time, measured, Run};
use super::{framework_app, message, raw_config, BenchMessage, CONSUMER, CONSUME_TOPIC};

/// What the framework's handler saw in one run: the app's state, so the handler pays
/// for taking a `State` as an app's handlers do.
#[derive(Default)]
struct Consumed {
    /// How many messages the run expects.
    target: usize,
    count: AtomicUsize,
    checksum: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
}

#[consumes(topic = "fastkafka-bench-consume")]
async fn bench_consume(msg: BenchMessage, seen: State<Consumed>) {
    let n = seen.count.fetch_add(1, Ordering::Relaxed);
    seen.checksum.fetch_add(msg.id, Ordering::Relaxed);
    // Like the raw loop: read the clock at the first and the last message only.
    if n == 0 {
        *seen.first.lock().unwrap() = Some(Instant::now());
    }
    if n + 1 == seen.target {
        *seen.last.lock().unwrap() = Some(Instant::now());
    }
}

/// Writes messages `ids` to `topic` (raw producer, outside any measurement); returns
/// the sum of their ids, a checksum for what a consumer saw.
pub(super) fn fill_topic(
    bootstrap: &str,
    topic: &str,
    ids: std::ops::Range<u64>,
    size: usize,
) -> anyhow::Result<u64> {
    let producer: ThreadedProducer<DefaultProducerContext> = raw_config(bootstrap).create()?;
    let mut sum = 0u64;
    for i in ids {
        sum += i;
        let payload = serde_json::to_vec(&message(i, size))?;
        let key = i.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(sum)
}

pub(super) async fn framework_consume(
    bootstrap: &str,
    n: usize,
    run: usize,
    checksum: u64,
) -> anyhow::Result<Run> {
    let app = framework_app(&format!("bench-consume-{run}"), &["bench_consume"])
        .state(Consumed {
            target: n,
            ..Consumed::default()
        })
        .build()
        .start(bootstrap)
        .await?;
    let seen = app
        .state::<Consumed>()
        .ok_or_else(|| anyhow::anyhow!("the consume app has no state"))?;
    // Like the raw side: CPU from after the consumer is created and subscribed
    // (the app's start-up, its producers and topic creation are not consuming).
    let cpu0 = cpu_time();
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.count.load(Ordering::Relaxed) < n {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the #[consumes] handler got only {} of {n}",
            seen.count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = cpu_time() - cpu0;
    let first = seen.first.lock().unwrap().unwrap_or_else(Instant::now);
    let last = seen.last.lock().unwrap().unwrap_or_else(Instant::now);
    app.stop().await?;
    anyhow::ensure!(
        seen.checksum.load(Ordering::SeqCst) == checksum,
        "the handler saw different messages than were produced"
    );
    Ok(measured(n, last.duration_since(first), cpu))
}

pub(super) async fn raw_consume(
    bootstrap: &str,
    n: usize,
    run: usize,
    checksum: u64,
) -> anyhow::Result<Run> {
    let mut config = ClientConfig::new();
    for (k, v) in CONSUMER {
        config.set(*k, *v);
    }
    let consumer: StreamConsumer = config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-raw-consume-{run}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("session.timeout.ms", "6000")
        .create()?;
    consumer.subscribe(&[CONSUME_TOPIC])?;
    let cpu0 = cpu_time();
    let mut first = None;
    let mut sum = 0u64;
    for _ in 0..n {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        first.get_or_insert_with(Instant::now);
        let msg: BenchMessage = serde_json::from_slice(m.payload().unwrap_or_default())?;
        sum += msg.id;
    }
    let elapsed = first.map_or(Duration::ZERO, |f: Instant| f.elapsed());
    let cpu = cpu_time() - cpu0;
    anyhow::ensure!(
        sum == checksum,
        "the raw consumer saw different messages than were produced"
    );
    Ok(measured(n, elapsed, cpu))
}
