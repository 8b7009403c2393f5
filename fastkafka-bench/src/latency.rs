//! The latency run: produce to handler at a fixed rate, percentiles of the delay.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastkafka::prelude::*;

use super::framework_app;
use super::measure::now_us;
use super::BenchMessage;

#[produces(topic = "fastkafka-bench-latency")]
async fn bench_latency(id: u64) -> KafkaEvent<BenchMessage> {
    KafkaEvent::new(BenchMessage {
        id,
        sent_us: now_us(),
        data: String::new(),
    })
    .key(id.to_string())
}

/// The delays the handler saw, in microseconds: the app's state.
#[derive(Default)]
struct Latencies(Mutex<Vec<u64>>);

impl Latencies {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[consumes(topic = "fastkafka-bench-latency", group_id = "bench-latency")]
async fn bench_latency_handler(msg: BenchMessage, latencies: State<Latencies>) {
    let latency = now_us().saturating_sub(msg.sent_us);
    latencies.lock().push(latency);
}

pub(super) async fn latency(
    bootstrap: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(u64, u64, u64, usize)> {
    let app = framework_app("bench-latency", &["bench_latency", "bench_latency_handler"])
        .state(Latencies::default())
        .build()
        .start(bootstrap)
        .await?;
    let latencies = app
        .state::<Latencies>()
        .ok_or_else(|| anyhow::anyhow!("the latency app has no state"))?;
    // Warm-up: send at the rate until the handler has seen a message, so that the
    // group join and the first fetch are not counted as latency.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let warm_until = Instant::now() + Duration::from_secs(30);
    let mut id = 0u64;
    while latencies.lock().is_empty() {
        anyhow::ensure!(
            Instant::now() < warm_until,
            "the latency consumer received nothing within 30 s"
        );
        drop(bench_latency(id).await?);
        id += 1;
        tokio::time::sleep(interval).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    latencies.lock().clear();
    let total = rate * seconds;
    let start = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(start + interval * i as u32).await;
        drop(bench_latency(id + i).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().len() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await?;
    let mut l = latencies.lock().clone();
    anyhow::ensure!(!l.is_empty(), "no latency samples arrived");
    l.sort_unstable();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    Ok((pct(0.50), pct(0.99), pct(0.999), l.len()))
}
