//! The pipeline runs: consume, transform, produce, at least once. A `#[consumes]`
//! handler that queues one output per input (the framework commits an input once its
//! output is acknowledged) against a raw rdkafka pipeline with the same rule: a
//! consumer and a producer, each input's offset stored for commit from the delivery
//! callback of its output, in partition order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fastkafka::prelude::*;
use fastkafka::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use fastkafka::rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use fastkafka::rdkafka::{ClientConfig, ClientContext, Message as _};

use super::measure::{cpu_time, measured, Run};
use super::{framework_app, raw_config, BenchMessage, CONSUMER, PIPE_IN_TOPIC, PIPE_OUT_TOPIC};

/// When the framework's handler first ran in a run: the app's state.
#[derive(Default)]
struct FirstCall(OnceLock<Instant>);

/// The framework pipeline's group (`bench_pipe`'s `group_id`, also its app's): each
/// run goes on from where the previous one committed, so it reads only the inputs
/// added for it.
const FRAMEWORK_GROUP: &str = "bench-pipeline";
/// The framework pipeline's functions.
const PIPELINE: &[&str] = &["bench_pipe", "to_bench_pipe_out"];
/// The raw pipeline's group, likewise.
const RAW_GROUP: &str = "bench-raw-pipeline";

#[consumes(topic = "fastkafka-bench-pipe-in", group_id = "bench-pipeline")]
async fn bench_pipe(msg: BenchMessage, first: State<FirstCall>) -> fastkafka::Result<()> {
    first.0.get_or_init(Instant::now);
    // Queued, not awaited: the input is committed once the output is acknowledged.
    to_bench_pipe_out(msg).await?;
    Ok(())
}

#[produces(topic = "fastkafka-bench-pipe-out")]
async fn to_bench_pipe_out(msg: BenchMessage) -> KafkaEvent<BenchMessage> {
    let key = msg.id.to_string();
    KafkaEvent::new(msg).key(key)
}

/// The framework pipeline's app, with its state.
fn pipeline_app() -> FastKafka {
    framework_app(FRAMEWORK_GROUP, PIPELINE)
        .state(FirstCall::default())
        .build()
}

/// Runs the framework's pipeline over the next `n` inputs: from the first handler call
/// until every input's output is acknowledged (`ConsumerCounts::handled` counts an
/// input only then).
pub(super) async fn framework_pipeline(bootstrap: &str, n: usize) -> anyhow::Result<Run> {
    let app = pipeline_app().start(bootstrap).await?;
    let cpu0 = cpu_time();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let handled = app.consumer_counts().handled as usize;
        if handled >= n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pipeline handled only {handled} of {n} inputs"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let done = Instant::now();
    let cpu = cpu_time() - cpu0;
    let first = app
        .state::<FirstCall>()
        .and_then(|f| f.0.get().copied())
        .unwrap_or(done);
    let report = app.stop().await?;
    anyhow::ensure!(
        report.consumed.handled as usize == n && report.deliveries.failed == 0,
        "the pipeline handled {} inputs (expected {n}) with {} failed outputs",
        report.consumed.handled,
        report.deliveries.failed
    );
    Ok(measured(n, done.duration_since(first), cpu))
}

/// Per input partition, its offsets in order and whether each one's output is
/// acknowledged.
type InFlight = Mutex<HashMap<i32, VecDeque<(i64, bool)>>>;

/// The raw pipeline's producer context: stores an input's offset once its output and
/// every earlier input's output of the partition are acknowledged.
struct StoreOnDelivery {
    consumer: OnceLock<Arc<BaseConsumer>>,
    in_flight: Arc<InFlight>,
    acked: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl ClientContext for StoreOnDelivery {}

impl ProducerContext for StoreOnDelivery {
    type DeliveryOpaque = Box<(i32, i64)>;

    fn delivery(&self, result: &DeliveryResult<'_>, input: Self::DeliveryOpaque) {
        let (partition, offset) = *input;
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = in_flight.get_mut(&partition) else {
            return;
        };
        if let Ok(i) = queue.binary_search_by_key(&offset, |(o, _)| *o) {
            queue[i].1 = true;
        }
        let mut ready = None;
        while let Some(&(o, true)) = queue.front() {
            ready = Some(o);
            queue.pop_front();
        }
        drop(in_flight);
        if let (Some(o), Some(consumer)) = (ready, self.consumer.get()) {
            let _ = consumer.store_offset(PIPE_IN_TOPIC, partition, o);
        }
        self.acked.fetch_add(1, Ordering::Relaxed);
    }
}

/// The raw pipeline over the next `n` inputs, on a blocking thread: poll, decode,
/// encode, send keyed by id; from the first input until every output is acknowledged.
pub(super) fn raw_pipeline(bootstrap: &str, n: usize) -> anyhow::Result<Run> {
    raw_pipeline_until(bootstrap, n, RAW_GROUP, "earliest", &AtomicBool::new(false))
}

/// The raw pipeline in group `group`, over `n` inputs or until `stop` is set.
fn raw_pipeline_until(
    bootstrap: &str,
    n: usize,
    group: &str,
    offset_reset: &str,
    stop: &AtomicBool,
) -> anyhow::Result<Run> {
    let in_flight: Arc<InFlight> = Arc::default();
    let acked = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let producer: ThreadedProducer<StoreOnDelivery> =
        raw_config(bootstrap).create_with_context(StoreOnDelivery {
            consumer: OnceLock::new(),
            in_flight: Arc::clone(&in_flight),
            acked: Arc::clone(&acked),
            failed: Arc::clone(&failed),
        })?;
    let mut config = ClientConfig::new();
    for (k, v) in CONSUMER {
        config.set(*k, *v);
    }
    let consumer: Arc<BaseConsumer> = Arc::new(
        config
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("auto.offset.reset", offset_reset)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("session.timeout.ms", "6000")
            .create()?,
    );
    let _ = producer.context().consumer.set(Arc::clone(&consumer));
    consumer.subscribe(&[PIPE_IN_TOPIC])?;
    let cpu0 = cpu_time();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut first = None;
    let mut seen = 0usize;
    while seen < n && !stop.load(Ordering::Relaxed) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the raw pipeline read only {seen} of {n}"
        );
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        first.get_or_insert_with(Instant::now);
        seen += 1;
        let (partition, offset) = (m.partition(), m.offset());
        in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(partition)
            .or_default()
            .push_back((offset, false));
        let msg: BenchMessage = serde_json::from_slice(m.payload().unwrap_or_default())?;
        let payload = serde_json::to_vec(&msg)?;
        let key = msg.id.to_string();
        let mut record = BaseRecord::with_opaque_to(PIPE_OUT_TOPIC, Box::new((partition, offset)))
            .key(&key)
            .payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    while acked.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < seen {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the raw pipeline's outputs were not all acknowledged"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = first.map_or(Duration::ZERO, |f: Instant| f.elapsed());
    let cpu = cpu_time() - cpu0;
    anyhow::ensure!(
        failed.load(Ordering::Relaxed) == 0,
        "the raw pipeline lost outputs"
    );
    // What the next run starts from.
    consumer.commit_consumer_state(CommitMode::Sync)?;
    Ok(measured(seen, elapsed, cpu))
}

/// Median figures of the pipeline runs: framework and raw rate, CPU per message.
pub(super) struct PipelineFigures {
    pub(super) framework: f64,
    pub(super) raw: f64,
    pub(super) framework_cpu_us: f64,
    pub(super) raw_cpu_us: f64,
}

/// `repeat` pairs of runs over `n` new inputs each, both pipelines reading the same.
pub(super) async fn compare(
    bootstrap: &str,
    n: usize,
    repeat: usize,
) -> anyhow::Result<PipelineFigures> {
    use super::measure::median;
    // The app creates the pipeline's topics (a broker may not create them on first
    // write), and its group joins once, outside any measurement.
    pipeline_app().start(bootstrap).await?.stop().await?;
    let (mut fw, mut raw, mut fw_cpu, mut raw_cpu) = (vec![], vec![], vec![], vec![]);
    let mut next = 0u64;
    for _ in 0..repeat {
        let ids = next..next + n as u64;
        next = ids.end;
        tokio::task::block_in_place(|| {
            super::consume::fill_topic(bootstrap, PIPE_IN_TOPIC, ids, 100)
        })?;
        let f = framework_pipeline(bootstrap, n).await?;
        let w = tokio::task::block_in_place(|| raw_pipeline(bootstrap, n))?;
        fw.push(f.rate);
        fw_cpu.push(f.cpu_us);
        raw.push(w.rate);
        raw_cpu.push(w.cpu_us);
    }
    Ok(PipelineFigures {
        framework: median(fw),
        raw: median(raw),
        framework_cpu_us: median(fw_cpu),
        raw_cpu_us: median(raw_cpu),
    })
}

/// End-to-end latency percentiles in microseconds: p50, p99, and the sample count.
pub(super) struct Latency {
    pub(super) p50_us: u64,
    pub(super) p99_us: u64,
    pub(super) samples: usize,
}

/// Input written to output readable, at `rate` inputs a second for `seconds`: the
/// raw pipeline, then the framework's. A plain consumer reads the output topic from
/// its end and takes each output's age from the send time its input carried.
pub(super) async fn latency(
    bootstrap: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(Latency, Latency)> {
    // The raw pipeline first, in a group of its own reading from the end; then the
    // framework's, whose group first reads what the raw run left in the input topic,
    // during its warm-up.
    let raw = {
        let stop = Arc::new(AtomicBool::new(false));
        let pipeline = std::thread::spawn({
            let (bootstrap, stop) = (bootstrap.to_string(), Arc::clone(&stop));
            move || {
                raw_pipeline_until(
                    &bootstrap,
                    usize::MAX,
                    "bench-raw-pipeline-latency",
                    "latest",
                    &stop,
                )
            }
        });
        let measured = measure_latency(bootstrap, rate, seconds, 1 << 40).await;
        stop.store(true, Ordering::Relaxed);
        let finished = tokio::task::spawn_blocking(move || pipeline.join()).await?;
        finished.map_err(|_| anyhow::anyhow!("the raw pipeline panicked"))??;
        measured?
    };
    let framework = {
        let app = pipeline_app().start(bootstrap).await?;
        let measured = measure_latency(bootstrap, rate, seconds, 2 << 40).await;
        app.stop().await?;
        measured?
    };
    Ok((framework, raw))
}

/// Sends inputs (ids from `first_id`) at `rate` and reads their outputs back: one at a
/// time until the pipeline answers, then `rate * seconds` at the rate.
async fn measure_latency(
    bootstrap: &str,
    rate: u64,
    seconds: u64,
    first_id: u64,
) -> anyhow::Result<Latency> {
    use fastkafka::rdkafka::{Offset, TopicPartitionList};

    let samples: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader_config = ClientConfig::new();
    for (k, v) in CONSUMER {
        reader_config.set(*k, *v);
    }
    let reader: BaseConsumer = reader_config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-pipeline-latency-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let partitions = reader
        .fetch_metadata(Some(PIPE_OUT_TOPIC), Duration::from_secs(10))?
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(PIPE_OUT_TOPIC, p, Offset::End)?;
    }
    reader.assign(&assignment)?;
    let reading = std::thread::spawn({
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(Ok(m)) = reader.poll(Duration::from_millis(20)) else {
                    continue;
                };
                let Ok(msg) =
                    serde_json::from_slice::<BenchMessage>(m.payload().unwrap_or_default())
                else {
                    continue;
                };
                let age = super::measure::now_us().saturating_sub(msg.sent_us);
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((msg.id, age));
            }
        }
    });
    let producer: ThreadedProducer<_> = raw_config(bootstrap).create()?;
    let send = |id: u64| -> anyhow::Result<()> {
        let msg = BenchMessage {
            id,
            sent_us: super::measure::now_us(),
            data: String::new(),
        };
        let payload = serde_json::to_vec(&msg)?;
        let key = id.to_string();
        let record: BaseRecord<'_, String, Vec<u8>> =
            BaseRecord::to(PIPE_IN_TOPIC).key(&key).payload(&payload);
        producer.send(record).map_err(|(e, _)| e)?;
        Ok(())
    };
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let outcome = async {
        // Warm-up: the pipeline's group join and first fetch are not latency.
        let warm_until = Instant::now() + Duration::from_secs(60);
        let mut id = first_id;
        let answered = |from: u64| {
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|(id, _)| *id >= from && *id < from + (1 << 39))
        };
        while !answered(first_id) {
            anyhow::ensure!(
                Instant::now() < warm_until,
                "no output came back within 60 s"
            );
            send(id)?;
            id += 1;
            tokio::time::sleep(interval).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let window = id + 1_000_000;
        let total = rate * seconds;
        let start = tokio::time::Instant::now();
        for i in 0..total {
            tokio::time::sleep_until(start + interval * i as u32).await;
            send(window + i)?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(id, _)| (window..window + total).contains(id))
                .count();
            if got as u64 >= total || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok((window, total))
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || reading.join()).await;
    let (window, total) = outcome?;
    let mut ages: Vec<u64> = samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(id, _)| (window..window + total).contains(id))
        .map(|(_, age)| *age)
        .collect();
    anyhow::ensure!(!ages.is_empty(), "no latency samples arrived");
    ages.sort_unstable();
    let pct = |p: f64| ages[((ages.len() as f64 * p) as usize).min(ages.len() - 1)];
    Ok(Latency {
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        samples: ages.len(),
    })
}
