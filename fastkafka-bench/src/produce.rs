//! The produce runs: a `#[produces]` function awaited in a loop (sequential and over
//! concurrent tasks) against rdkafka's `ThreadedProducer` and `FutureProducer`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fastkafka::prelude::*;
use fastkafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use fastkafka::rdkafka::producer::DefaultProducerContext;
use fastkafka::rdkafka::producer::{
    BaseRecord, FutureProducer, FutureRecord, Producer, ThreadedProducer,
};

use super::measure::{cpu_time, measured, Run};
use super::{framework_app, message, raw_config, BenchMessage, PRODUCE_TOPIC};

/// Padding of the produced messages, set per message size.
static PADDING_LEN: AtomicUsize = AtomicUsize::new(60);

/// Makes the framework's messages `size` bytes long, like the raw ones.
pub(super) fn set_message_size(size: usize) {
    // `{"id":..,"sent_us":..,"data":""}` is about 40 bytes, as in `message`.
    PADDING_LEN.store(size.saturating_sub(40), Ordering::Relaxed);
}

/// The same work on both paths: build the message, its key, encode (here: the framework).
#[produces(topic = "fastkafka-bench-produce")]
async fn bench_produce(id: u64) -> KafkaEvent<BenchMessage> {
    let data = "x".repeat(PADDING_LEN.load(Ordering::Relaxed));
    KafkaEvent::new(BenchMessage {
        id,
        sent_us: 0,
        data,
    })
    .key(id.to_string())
}

pub(super) async fn framework_produce(
    bootstrap: &str,
    n: usize,
    tasks: usize,
    run: usize,
) -> anyhow::Result<Run> {
    let app = framework_app(&format!("bench-produce-{run}"), &["bench_produce"])
        .build()
        .start(bootstrap)
        .await?;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let per_task = n / tasks;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            tokio::spawn(async move {
                let mut pending = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    pending.push(bench_produce((t * per_task + i) as u64).await?);
                }
                for p in pending {
                    p.await?;
                }
                Ok::<(), fastkafka::Error>(())
            })
        })
        .collect();
    for h in handles {
        h.await??;
    }
    let result = measured(per_task * tasks, t0.elapsed(), cpu_time() - cpu0);
    app.stop().await?;
    Ok(result)
}

pub(super) fn raw_threaded_produce(bootstrap: &str, n: usize, size: usize) -> anyhow::Result<Run> {
    let producer: ThreadedProducer<DefaultProducerContext> = raw_config(bootstrap).create()?;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    for i in 0..n as u64 {
        let payload = serde_json::to_vec(&message(i, size))?;
        let key = i.to_string();
        let mut record = BaseRecord::to(PRODUCE_TOPIC).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(measured(n, t0.elapsed(), cpu_time() - cpu0))
}

pub(super) async fn raw_future_produce(
    bootstrap: &str,
    n: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let producer: FutureProducer = raw_config(bootstrap).create()?;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let mut pending = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let payload = serde_json::to_vec(&message(i, size))?;
        let key = i.to_string();
        let mut record = FutureRecord::to(PRODUCE_TOPIC).key(&key).payload(&payload);
        loop {
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    for f in pending {
        f.await?.map_err(|(e, _)| e)?;
    }
    Ok(measured(n, t0.elapsed(), cpu_time() - cpu0))
}
