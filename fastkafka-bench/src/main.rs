//! `fastkafka-bench`: the framework's cost next to raw rdkafka, measured in one run,
//! against the same broker. A tool of this repository (`cargo run --release -p
//! fastkafka-bench -- ...`), not part of the shipped `fastkafka` command.
//!
//! Produce: a loop awaiting a `#[produces]` function (sequential, and over concurrent
//! tasks) against rdkafka's `ThreadedProducer` and `FutureProducer` with the same
//! settings, sending the same keyed JSON messages. Consume: a `#[consumes]` handler
//! against a `StreamConsumer`, both decoding the same JSON. Latency: produce to handler
//! at a fixed rate. Pipeline: a `#[consumes]` handler producing one output per input,
//! committed once acknowledged, against a raw consumer and producer with the same rule;
//! throughput, CPU and input-to-output latency. Runs alternate framework and raw,
//! repeat, and report medians; the last line is one JSON object with the figures and
//! the framework/raw ratios.

mod consume;
mod latency;
mod measure;
mod pipeline;
mod produce;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::rdkafka::ClientConfig;
use fastkafka::FastKafkaBuilder;
use serde_json::json;

use fastkafka::protocol::exit;

/// Measure fastkafka against raw rdkafka on the same broker, in one run.
#[derive(Parser)]
#[command(
    name = "fastkafka-bench",
    version,
    after_help = "Examples:\n  cargo run --release -p fastkafka-bench                       # the embedded broker\n  cargo run --release -p fastkafka-bench -- --messages 1000000 --bootstrap kafka1:9092\n\nThe last line of output is one JSON object with every figure and the ratios\nframework/raw (produce_ratio, produce_concurrent_ratio, consume_ratio, pipeline_ratio)."
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
    /// Only the consume comparison (skips the produce, pipeline and latency runs).
    #[arg(long, conflicts_with = "pipeline_only")]
    consume_only: bool,
    /// Only the consume-transform-produce comparison.
    #[arg(long)]
    pipeline_only: bool,
}

/// The benchmark message: an id, a send time and padding to the wanted size.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone)]
pub(crate) struct BenchMessage {
    pub(crate) id: u64,
    pub(crate) sent_us: u64,
    pub(crate) data: String,
}

pub(crate) fn message(id: u64, size: usize) -> BenchMessage {
    // `{"id":..,"sent_us":..,"data":""}` is about 40 bytes; pad to `size`.
    BenchMessage {
        id,
        sent_us: 0,
        data: "x".repeat(size.saturating_sub(40)),
    }
}

/// Producer settings shared by the framework and the raw producers.
pub(crate) const PRODUCER: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("partitioner", "murmur2_random"),
    ("linger.ms", "5"),
    ("batch.size", "1000000"),
    ("queue.buffering.max.messages", "1000000"),
];

/// The most messages a consume run reads from the embedded broker (see `run`).
pub(crate) const EMBEDDED_CONSUME_MAX: usize = 100_000;

pub(crate) const PRODUCE_TOPIC: &str = "fastkafka-bench-produce";
pub(crate) const CONSUME_TOPIC: &str = "fastkafka-bench-consume";
pub(crate) const LATENCY_TOPIC: &str = "fastkafka-bench-latency";
pub(crate) const PIPE_IN_TOPIC: &str = "fastkafka-bench-pipe-in";
pub(crate) const PIPE_OUT_TOPIC: &str = "fastkafka-bench-pipe-out";

pub(crate) fn raw_config(bootstrap: &str) -> ClientConfig {
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
pub(crate) const CONSUMER: &[(&str, &str)] = &[("fetch.wait.max.ms", "10")];

/// The app of one run, made of that run's `functions` only (the bench's other
/// consumers must not read their topics meanwhile), to be given its state and built.
pub(crate) fn framework_app(bootstrap_group: &str, functions: &[&str]) -> FastKafkaBuilder {
    let mut b = FastKafka::builder()
        .title("fastkafka bench")
        .group_id(bootstrap_group)
        .only(functions.iter().copied());
    // Created at start, so that no consumer waits for a topic to appear.
    for topic in [
        PRODUCE_TOPIC,
        CONSUME_TOPIC,
        LATENCY_TOPIC,
        PIPE_IN_TOPIC,
        PIPE_OUT_TOPIC,
    ] {
        b = b.topic(topic, 3);
    }
    for (k, v) in PRODUCER {
        b = b.producer_config(*k, *v);
    }
    for (k, v) in CONSUMER {
        b = b.consumer_config(*k, *v);
    }
    b
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
        "fastkafka-bench: {n} messages a run, {} repeats, against {} ({})",
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
    if !args.consume_only && !args.pipeline_only {
        let _ = produce::framework_produce(&bootstrap, 2_000.min(n), 1, 0).await?;
        let _ = produce::raw_threaded_produce(&bootstrap, 2_000.min(n), 100)?;

        for size in [100usize, 1024] {
            produce::set_message_size(size);
            let (mut seq, mut conc, mut threaded, mut future) = (vec![], vec![], vec![], vec![]);
            let (mut seq_cpu, mut threaded_cpu) = (vec![], vec![]);
            for r in 0..args.repeat {
                let s = produce::framework_produce(&bootstrap, n, 1, r).await?;
                let t = tokio::task::block_in_place(|| {
                    produce::raw_threaded_produce(&bootstrap, n, size)
                })?;
                let c = produce::framework_produce(&bootstrap, n, args.tasks, r).await?;
                let f = produce::raw_future_produce(&bootstrap, n, size).await?;
                seq.push(s.rate);
                seq_cpu.push(s.cpu_us);
                threaded.push(t.rate);
                threaded_cpu.push(t.cpu_us);
                conc.push(c.rate);
                future.push(f.rate);
            }
            let (seq, conc, threaded, future) = (
                measure::median(seq),
                measure::median(conc),
                measure::median(threaded),
                measure::median(future),
            );
            let raw_best = threaded.max(future);
            say(&format!(
                "produce {size:>4} B  fastkafka sequential   {seq:>10.0} msg/s  ({:.2} us CPU/msg)",
                measure::median(seq_cpu.clone())
            ));
            say(&format!(
                "produce {size:>4} B  fastkafka {} tasks      {conc:>10.0} msg/s",
                args.tasks
            ));
            say(&format!("produce {size:>4} B  raw ThreadedProducer   {threaded:>10.0} msg/s  ({:.2} us CPU/msg)", measure::median(threaded_cpu.clone())));
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
                    "fastkafka_cpu_us_per_msg": measure::median(seq_cpu),
                    "raw_cpu_us_per_msg": measure::median(threaded_cpu),
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
    }
    if !args.consume_only {
        let pipe_n = if embedded.is_some() && n > EMBEDDED_CONSUME_MAX {
            EMBEDDED_CONSUME_MAX
        } else {
            n
        };
        let p = pipeline::compare(&bootstrap, pipe_n, args.repeat).await?;
        say(&format!(
            "pipeline 100 B  fastkafka #[consumes]->#[produces] {:>10.0} msg/s  ({:.2} us CPU/msg)",
            p.framework, p.framework_cpu_us
        ));
        say(&format!(
            "pipeline 100 B  raw consumer->producer           {:>10.0} msg/s  ({:.2} us CPU/msg)",
            p.raw, p.raw_cpu_us
        ));
        report.insert(
            "pipeline_100b".into(),
            json!({
                "inputs": pipe_n,
                "fastkafka_msg_s": p.framework.round(),
                "raw_msg_s": p.raw.round(),
                "fastkafka_cpu_us_per_msg": p.framework_cpu_us,
                "raw_cpu_us_per_msg": p.raw_cpu_us,
            }),
        );
        ratios.insert("pipeline_ratio".into(), json!(round3(p.framework / p.raw)));
        let (fw, raw) = pipeline::latency(&bootstrap, args.rate, args.latency_seconds).await?;
        say(&format!(
            "pipeline latency input->output at {} msg/s: fastkafka p50 {:.2} ms, p99 {:.2} ms; raw p50 {:.2} ms, p99 {:.2} ms",
            args.rate,
            fw.p50_us as f64 / 1000.0,
            fw.p99_us as f64 / 1000.0,
            raw.p50_us as f64 / 1000.0,
            raw.p99_us as f64 / 1000.0
        ));
        report.insert(
            "pipeline_latency".into(),
            json!({
                "rate_msg_s": args.rate,
                "fastkafka_p50_ms": fw.p50_us as f64 / 1000.0,
                "fastkafka_p99_ms": fw.p99_us as f64 / 1000.0,
                "fastkafka_samples": fw.samples,
                "raw_p50_ms": raw.p50_us as f64 / 1000.0,
                "raw_p99_ms": raw.p99_us as f64 / 1000.0,
                "raw_samples": raw.samples,
            }),
        );
    }
    if !args.consume_only && !args.pipeline_only {
        let (p50, p99, p999, samples) =
            latency::latency(&bootstrap, args.rate, args.latency_seconds).await?;
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

    let (consume_n, consume_ratio) = if args.pipeline_only {
        (0, None)
    } else {
        let (consume_n, ratio) =
            consume_comparison(&args, &bootstrap, embedded.is_some(), &mut report).await?;
        (consume_n, Some(ratio))
    };

    let rss = measure::peak_rss_kib();
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
        "consume_ratio": consume_ratio,
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

/// The consume runs: `#[consumes]` against a raw `StreamConsumer`, over the same
/// messages; the number of messages and the framework/raw ratio.
async fn consume_comparison(
    args: &BenchArgs,
    bootstrap: &str,
    embedded: bool,
    report: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<(usize, f64)> {
    let n = args.messages;
    // The embedded broker (librdkafka's mock cluster) keeps at most 5 MB or 100,000
    // messages per partition and deletes older ones, so a larger consume run would
    // never see all its messages (and waited for them for minutes).
    let consume_n = if embedded && n > EMBEDDED_CONSUME_MAX {
        say(&format!(
            "consume runs use {EMBEDDED_CONSUME_MAX} messages: the embedded broker keeps no more"
        ));
        EMBEDDED_CONSUME_MAX
    } else {
        n
    };
    let n = consume_n;
    let checksum = tokio::task::block_in_place(|| {
        consume::fill_topic(bootstrap, CONSUME_TOPIC, 0..n as u64, 100)
    })?;
    let (mut fw, mut raw, mut fw_cpu, mut raw_cpu) = (vec![], vec![], vec![], vec![]);
    for r in 0..args.repeat {
        let f = consume::framework_consume(bootstrap, n, r, checksum).await?;
        let w = consume::raw_consume(bootstrap, n, r, checksum).await?;
        fw.push(f.rate);
        fw_cpu.push(f.cpu_us);
        raw.push(w.rate);
        raw_cpu.push(w.cpu_us);
    }
    let (fw, raw) = (measure::median(fw), measure::median(raw));
    say(&format!(
        "consume  100 B  fastkafka #[consumes]   {fw:>10.0} msg/s  ({:.2} us CPU/msg)",
        measure::median(fw_cpu.clone())
    ));
    say(&format!(
        "consume  100 B  raw StreamConsumer      {raw:>10.0} msg/s  ({:.2} us CPU/msg)",
        measure::median(raw_cpu.clone())
    ));
    report.insert(
        "consume_100b".into(),
        json!({
            "fastkafka_msg_s": fw.round(),
            "raw_stream_consumer_msg_s": raw.round(),
            "fastkafka_cpu_us_per_msg": measure::median(fw_cpu),
            "raw_cpu_us_per_msg": measure::median(raw_cpu),
        }),
    );

    Ok((consume_n, round3(fw / raw)))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A mistake in the arguments: one clear line, the usage exit code.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let args = match BenchArgs::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    // Library warnings and errors (RUST_LOG=info for more), on stderr.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if e.downcast_ref::<UsageError>().is_some() {
                exit::USAGE
            } else {
                exit::FAILURE
            })
        }
    }
}
