//! `fastkafka bench`: the framework's cost next to raw rdkafka, measured in one run,
//! against the same broker.
//!
//! Produce: a loop awaiting a `#[produces]` function (sequential, and over concurrent
//! tasks) against rdkafka's `ThreadedProducer` and `FutureProducer` with the same
//! settings, sending the same keyed JSON messages. Consume: a `#[consumes]` handler
//! against a `StreamConsumer`, both decoding the same JSON. Latency: produce to handler
//! at a fixed rate. Runs alternate framework and raw, repeat, and report medians; the
//! last line is one JSON object with the figures and the framework/raw ratios.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use fastkafka::prelude::*;
use fastkafka::rdkafka::consumer::{Consumer, StreamConsumer};
use fastkafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use fastkafka::rdkafka::producer::DefaultProducerContext;
use fastkafka::rdkafka::producer::{
    BaseRecord, FutureProducer, FutureRecord, Producer, ThreadedProducer,
};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::rdkafka::Message as _;
use fastkafka::EmbeddedBroker;
use serde_json::json;

use crate::UsageError;

/// Measure fastkafka against raw rdkafka on the same broker, in one run.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  fastkafka bench                       # the embedded broker\n  fastkafka bench --messages 1000000 --bootstrap kafka1:9092\n\nThe last line of output is one JSON object with every figure and the ratios\nframework/raw (produce_ratio, produce_concurrent_ratio, consume_ratio)."
)]
pub(crate) struct BenchArgs {
    /// Messages per produce and consume run.
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
    /// A Kafka broker to measure against (default: an embedded broker in this process).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// How many times each run is repeated (medians are reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Concurrent tasks for the concurrent produce loop.
    #[arg(long, default_value_t = 4)]
    tasks: usize,
    /// Messages per second for the latency run.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Seconds the latency run lasts.
    #[arg(long, default_value_t = 3)]
    latency_seconds: u64,
    /// Only the consume comparison (skips the produce and latency runs).
    #[arg(long)]
    consume_only: bool,
}

/// The benchmark message: an id, a send time and padding to the wanted size.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone)]
struct BenchMessage {
    id: u64,
    sent_us: u64,
    data: String,
}

fn message(id: u64, size: usize) -> BenchMessage {
    // `{"id":..,"sent_us":..,"data":""}` is about 40 bytes; pad to `size`.
    BenchMessage {
        id,
        sent_us: 0,
        data: "x".repeat(size.saturating_sub(40)),
    }
}

/// Producer settings shared by the framework and the raw producers.
const PRODUCER: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("partitioner", "murmur2_random"),
    ("linger.ms", "5"),
    ("batch.size", "1000000"),
    ("queue.buffering.max.messages", "1000000"),
];

/// The most messages a consume run reads from the embedded broker (see `run`).
const EMBEDDED_CONSUME_MAX: usize = 100_000;

const PRODUCE_TOPIC: &str = "fastkafka-bench-produce";
const CONSUME_TOPIC: &str = "fastkafka-bench-consume";
const LATENCY_TOPIC: &str = "fastkafka-bench-latency";

/// Padding of the produced messages, set per message size.
static PADDING_LEN: AtomicUsize = AtomicUsize::new(60);

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

#[produces(topic = "fastkafka-bench-latency")]
async fn bench_latency(id: u64) -> KafkaEvent<BenchMessage> {
    KafkaEvent::new(BenchMessage {
        id,
        sent_us: now_us(),
        data: String::new(),
    })
    .key(id.to_string())
}

static CONSUMED: AtomicUsize = AtomicUsize::new(0);
static FIRST_CONSUMED: Mutex<Option<Instant>> = Mutex::new(None);
static LAST_CONSUMED: Mutex<Option<Instant>> = Mutex::new(None);
static CHECKSUM: AtomicU64 = AtomicU64::new(0);

#[consumes(topic = "fastkafka-bench-consume")]
async fn bench_consume(msg: BenchMessage) {
    let n = CONSUMED.fetch_add(1, Ordering::Relaxed);
    CHECKSUM.fetch_add(msg.id, Ordering::Relaxed);
    // Like the raw loop: read the clock at the first and the last message only.
    if n == 0 {
        *FIRST_CONSUMED.lock().unwrap() = Some(Instant::now());
    }
    if n + 1 == CONSUME_TARGET.load(Ordering::Relaxed) {
        *LAST_CONSUMED.lock().unwrap() = Some(Instant::now());
    }
}

/// How many messages the running consume measurement expects.
static CONSUME_TARGET: AtomicUsize = AtomicUsize::new(0);

static LATENCIES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

// Its own group: the consume runs' apps run this consumer too, and must not read the
// latency messages besides the consume topic (the raw consumer reads only that).
#[consumes(topic = "fastkafka-bench-latency", group_id = "bench-latency")]
async fn bench_latency_handler(msg: BenchMessage) {
    let latency = now_us().saturating_sub(msg.sent_us);
    LATENCIES.lock().unwrap().push(latency);
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;

    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Duration::from_micros(u64::try_from(micros).unwrap_or_default())
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// One measured run: messages per second and CPU microseconds per message.
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    cpu_us: f64,
}

fn measured(n: usize, elapsed: Duration, cpu: Duration) -> Run {
    Run {
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
    }
}

fn raw_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in PRODUCER {
        c.set(*k, *v);
    }
    c
}

/// Consumer settings shared by the framework and the raw consumers. The embedded
/// broker answers an empty fetch only after `fetch.wait.max.ms`, not when data
/// arrives; fastkafka shortens it for `--kafka-broker embedded`, and the bench does
/// the same on both paths so that latency is not the broker's wait.
const CONSUMER: &[(&str, &str)] = &[("fetch.wait.max.ms", "10")];

fn framework_app(bootstrap_group: &str) -> FastKafka {
    let mut b = FastKafka::builder()
        .title("fastkafka bench")
        .group_id(bootstrap_group);
    // Created at start, so that no consumer waits for a topic to appear.
    for topic in [PRODUCE_TOPIC, CONSUME_TOPIC, LATENCY_TOPIC] {
        b = b.topic(topic, 3);
    }
    for (k, v) in PRODUCER {
        b = b.producer_config(*k, *v);
    }
    for (k, v) in CONSUMER {
        b = b.consumer_config(*k, *v);
    }
    b.build()
}

async fn framework_produce(
    bootstrap: &str,
    n: usize,
    tasks: usize,
    run: usize,
) -> anyhow::Result<Run> {
    let app = framework_app(&format!("bench-produce-{run}"))
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

fn raw_threaded_produce(bootstrap: &str, n: usize, size: usize) -> anyhow::Result<Run> {
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

async fn raw_future_produce(bootstrap: &str, n: usize, size: usize) -> anyhow::Result<Run> {
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

/// Fills the consume topic with `n` messages (raw producer, outside any measurement).
fn fill_consume_topic(bootstrap: &str, n: usize, size: usize) -> anyhow::Result<u64> {
    let producer: ThreadedProducer<DefaultProducerContext> = raw_config(bootstrap).create()?;
    let mut sum = 0u64;
    for i in 0..n as u64 {
        sum += i;
        let payload = serde_json::to_vec(&message(i, size))?;
        let key = i.to_string();
        let mut record = BaseRecord::to(CONSUME_TOPIC).key(&key).payload(&payload);
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

async fn framework_consume(
    bootstrap: &str,
    n: usize,
    run: usize,
    checksum: u64,
) -> anyhow::Result<Run> {
    CONSUMED.store(0, Ordering::SeqCst);
    CHECKSUM.store(0, Ordering::SeqCst);
    *FIRST_CONSUMED.lock().unwrap() = None;
    *LAST_CONSUMED.lock().unwrap() = None;
    CONSUME_TARGET.store(n, Ordering::SeqCst);
    let app = framework_app(&format!("bench-consume-{run}"))
        .start(bootstrap)
        .await?;
    // Like the raw side: CPU from after the consumer is created and subscribed
    // (the app's start-up, its producers and topic creation are not consuming).
    let cpu0 = cpu_time();
    let deadline = Instant::now() + Duration::from_secs(300);
    while CONSUMED.load(Ordering::Relaxed) < n {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the #[consumes] handler got only {} of {n}",
            CONSUMED.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = cpu_time() - cpu0;
    let first = FIRST_CONSUMED.lock().unwrap().unwrap_or_else(Instant::now);
    let last = LAST_CONSUMED.lock().unwrap().unwrap_or_else(Instant::now);
    app.stop().await?;
    anyhow::ensure!(
        CHECKSUM.load(Ordering::SeqCst) == checksum,
        "the handler saw different messages than were produced"
    );
    Ok(measured(n, last.duration_since(first), cpu))
}

async fn raw_consume(bootstrap: &str, n: usize, run: usize, checksum: u64) -> anyhow::Result<Run> {
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

async fn latency(
    bootstrap: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(u64, u64, u64, usize)> {
    LATENCIES.lock().unwrap().clear();
    let app = framework_app("bench-latency").start(bootstrap).await?;
    // Warm-up: send at the rate until the handler has seen a message, so that the
    // group join and the first fetch are not counted as latency.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let warm_until = Instant::now() + Duration::from_secs(30);
    let mut id = 0u64;
    while LATENCIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
    {
        anyhow::ensure!(
            Instant::now() < warm_until,
            "the latency consumer received nothing within 30 s"
        );
        drop(bench_latency(id).await?);
        id += 1;
        tokio::time::sleep(interval).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    LATENCIES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let total = rate * seconds;
    let start = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(start + interval * i as u32).await;
        drop(bench_latency(id + i).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while LATENCIES.lock().unwrap().len() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await?;
    let mut l = LATENCIES.lock().unwrap().clone();
    anyhow::ensure!(!l.is_empty(), "no latency samples arrived");
    l.sort_unstable();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    Ok((pct(0.50), pct(0.99), pct(0.999), l.len()))
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.messages < args.tasks.max(1) || args.repeat == 0 || args.tasks == 0 || args.rate == 0 {
        return Err(UsageError(
            "--messages must be at least --tasks, and --repeat, --tasks and --rate at least 1"
                .into(),
        )
        .into());
    }
    let embedded = match &args.bootstrap {
        Some(_) => None,
        None => Some(EmbeddedBroker::start()?),
    };
    let bootstrap = args.bootstrap.clone().unwrap_or_else(|| {
        embedded
            .as_ref()
            .map(|b| b.bootstrap_servers().to_string())
            .unwrap_or_default()
    });
    let n = args.messages;
    say(&format!(
        "fastkafka bench: {n} messages a run, {} repeats, against {} ({})",
        args.repeat,
        bootstrap,
        if embedded.is_some() {
            "embedded broker"
        } else {
            "external broker"
        }
    ));

    // Warm-up: connections, metadata, the idempotent producer's id, on both paths.
    let mut report = serde_json::Map::new();
    let mut ratios = serde_json::Map::new();
    if !args.consume_only {
        let _ = framework_produce(&bootstrap, 2_000.min(n), 1, 0).await?;
        let _ = raw_threaded_produce(&bootstrap, 2_000.min(n), 100)?;

        for size in [100usize, 1024] {
            PADDING_LEN.store(size.saturating_sub(40), Ordering::Relaxed);
            let (mut seq, mut conc, mut threaded, mut future) = (vec![], vec![], vec![], vec![]);
            let (mut seq_cpu, mut threaded_cpu) = (vec![], vec![]);
            for r in 0..args.repeat {
                let s = framework_produce(&bootstrap, n, 1, r).await?;
                let t = tokio::task::block_in_place(|| raw_threaded_produce(&bootstrap, n, size))?;
                let c = framework_produce(&bootstrap, n, args.tasks, r).await?;
                let f = raw_future_produce(&bootstrap, n, size).await?;
                seq.push(s.rate);
                seq_cpu.push(s.cpu_us);
                threaded.push(t.rate);
                threaded_cpu.push(t.cpu_us);
                conc.push(c.rate);
                future.push(f.rate);
            }
            let (seq, conc, threaded, future) =
                (median(seq), median(conc), median(threaded), median(future));
            let raw_best = threaded.max(future);
            say(&format!(
                "produce {size:>4} B  fastkafka sequential   {seq:>10.0} msg/s  ({:.2} us CPU/msg)",
                median(seq_cpu.clone())
            ));
            say(&format!(
                "produce {size:>4} B  fastkafka {} tasks      {conc:>10.0} msg/s",
                args.tasks
            ));
            say(&format!("produce {size:>4} B  raw ThreadedProducer   {threaded:>10.0} msg/s  ({:.2} us CPU/msg)", median(threaded_cpu.clone())));
            say(&format!(
                "produce {size:>4} B  raw FutureProducer     {future:>10.0} msg/s"
            ));
            report.insert(
                format!("produce_{size}b"),
                json!({
                    "fastkafka_sequential_msg_s": seq.round(),
                    "fastkafka_concurrent_msg_s": conc.round(),
                    "raw_threaded_msg_s": threaded.round(),
                    "raw_future_msg_s": future.round(),
                    "fastkafka_cpu_us_per_msg": median(seq_cpu),
                    "raw_cpu_us_per_msg": median(threaded_cpu),
                }),
            );
            ratios.insert(
                format!("produce_ratio_{size}b"),
                json!(round3(seq / raw_best)),
            );
            ratios.insert(
                format!("produce_concurrent_ratio_{size}b"),
                json!(round3(conc / raw_best)),
            );
        }

        // Latency first: every app here runs both bench consumers, and the consume
        // topic is still empty, so the latency app's other consumer has nothing to read.
        let (p50, p99, p999, samples) =
            latency(&bootstrap, args.rate, args.latency_seconds).await?;
        say(&format!(
        "latency produce->handler at {} msg/s: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms ({samples} samples)",
        args.rate,
        p50 as f64 / 1000.0,
        p99 as f64 / 1000.0,
        p999 as f64 / 1000.0
    ));
        report.insert(
        "latency".into(),
        json!({"rate_msg_s": args.rate, "p50_ms": p50 as f64 / 1000.0, "p99_ms": p99 as f64 / 1000.0, "p999_ms": p999 as f64 / 1000.0, "samples": samples}),
    );
    }

    // The embedded broker (librdkafka's mock cluster) keeps at most 5 MB or 100,000
    // messages per partition and deletes older ones, so a larger consume run would
    // never see all its messages (and waited for them for minutes).
    let consume_n = if embedded.is_some() && n > EMBEDDED_CONSUME_MAX {
        say(&format!(
            "consume runs use {EMBEDDED_CONSUME_MAX} messages: the embedded broker keeps no more"
        ));
        EMBEDDED_CONSUME_MAX
    } else {
        n
    };
    let n = consume_n;
    let checksum = tokio::task::block_in_place(|| fill_consume_topic(&bootstrap, n, 100))?;
    let (mut fw, mut raw, mut fw_cpu, mut raw_cpu) = (vec![], vec![], vec![], vec![]);
    for r in 0..args.repeat {
        let f = framework_consume(&bootstrap, n, r, checksum).await?;
        let w = raw_consume(&bootstrap, n, r, checksum).await?;
        fw.push(f.rate);
        fw_cpu.push(f.cpu_us);
        raw.push(w.rate);
        raw_cpu.push(w.cpu_us);
    }
    let (fw, raw) = (median(fw), median(raw));
    say(&format!(
        "consume  100 B  fastkafka #[consumes]   {fw:>10.0} msg/s  ({:.2} us CPU/msg)",
        median(fw_cpu.clone())
    ));
    say(&format!(
        "consume  100 B  raw StreamConsumer      {raw:>10.0} msg/s  ({:.2} us CPU/msg)",
        median(raw_cpu.clone())
    ));
    report.insert(
        "consume_100b".into(),
        json!({
            "fastkafka_msg_s": fw.round(),
            "raw_stream_consumer_msg_s": raw.round(),
            "fastkafka_cpu_us_per_msg": median(fw_cpu),
            "raw_cpu_us_per_msg": median(raw_cpu),
        }),
    );

    let rss = peak_rss_kib();
    say(&format!("peak RSS {:.1} MiB", rss as f64 / 1024.0));
    let produce_ratio = ratios
        .get("produce_ratio_100b")
        .and_then(|r| r.as_f64())
        .unwrap_or(0.0);
    let produce_concurrent_ratio = ratios
        .get("produce_concurrent_ratio_100b")
        .and_then(|r| r.as_f64())
        .unwrap_or(0.0);
    let mut summary = json!({
        "messages": args.messages,
        "consume_messages": consume_n,
        "repeat": args.repeat,
        "broker": if embedded.is_some() { "embedded" } else { "external" },
        "produce_ratio": produce_ratio,
        "produce_concurrent_ratio": produce_concurrent_ratio,
        "consume_ratio": round3(fw / raw),
        "peak_rss_mib": round3(rss as f64 / 1024.0),
    });
    if let Some(obj) = summary.as_object_mut() {
        obj.extend(ratios);
        obj.extend(report);
    }
    say(&summary.to_string());
    drop(embedded);
    Ok(ExitCode::SUCCESS)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
