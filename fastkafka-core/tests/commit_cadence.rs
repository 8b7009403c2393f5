//! How far the committed position trails the processed one while a consumer works
//! through a backlog: at most about one `auto.commit.interval.ms` of messages, measured
//! at the broker, so that a crash redelivers no more than that.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::testing::{committed_offsets, eventually, send_payloads};

/// The offset of the last message `on_backlog` finished (-1 before the first).
static LAST_HANDLED: AtomicI64 = AtomicI64::new(-1);

/// A slow consume-transform-produce handler: about 400 messages a second, each with
/// an output still on its way when the next input is handled (so the partition never
/// runs out of work with nothing in flight, as a real pipeline on a backlog).
#[consumes(topic = "backlog")]
async fn on_backlog(text: String, meta: EventMetadata) -> fastkafka::Result<()> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    to_backlog_out(text).await?;
    LAST_HANDLED.store(meta.offset, Ordering::SeqCst);
    Ok(())
}

#[produces(topic = "backlog_out")]
async fn to_backlog_out(text: String) -> String {
    text
}

const COMMIT_INTERVAL_MS: i64 = 300;

fn app() -> FastKafka {
    FastKafka::builder()
        .title("commit cadence")
        .consumer_config("auto.commit.interval.ms", COMMIT_INTERVAL_MS.to_string())
        // Outputs are acknowledged 50 ms after they are queued.
        .producer_config("linger.ms", "50")
        .build()
}

/// The next offset to read that the app's group committed, 0 for none yet.
fn committed(bootstrap: &str) -> i64 {
    committed_offsets(bootstrap, &app().group_id(), "backlog", 1).unwrap()[0].unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_committed_offset_follows_the_processed_one_every_commit_interval_through_a_backlog() {
    let broker = EmbeddedBroker::with_partitions(1).unwrap();
    let bootstrap = broker.bootstrap_servers().to_string();
    broker.create_topic("backlog", 1).unwrap();
    broker.create_topic("backlog_out", 1).unwrap();
    let texts: Vec<String> = (0..5000).map(|i| format!("m-{i}")).collect();
    send_payloads(&bootstrap, "backlog", &texts).unwrap();
    let running = app().start(&bootstrap).await.unwrap();
    eventually("500 messages handled", Duration::from_secs(60), || {
        LAST_HANDLED.load(Ordering::SeqCst) >= 500
    })
    .await;
    // The handler finishes a message every 2-3 ms, so one commit interval is at most
    // about 150 messages. Measured over several intervals, while the backlog (5,000
    // messages, 10 s or more of work) keeps the partition's queue full: the committed
    // position never falls further behind than an interval's worth plus the time a
    // commit and this reading take.
    let mut lags = Vec::new();
    for _ in 0..6 {
        let processed = LAST_HANDLED.load(Ordering::SeqCst) + 1;
        let reader = bootstrap.clone();
        let committed = tokio::task::spawn_blocking(move || committed(&reader))
            .await
            .unwrap();
        lags.push(processed - committed);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let still_working = LAST_HANDLED.load(Ordering::SeqCst) < 4000;
    running.stop().await.unwrap();
    assert!(
        still_working,
        "the backlog ran out before the measurement ended"
    );
    let worst = lags.iter().copied().max().unwrap();
    eprintln!("committed offset behind the processed one, sampled every 250 ms: {lags:?}");
    assert!(
        worst <= 350,
        "the committed offset trailed the processed one by up to {worst} messages \
         (lags {lags:?}); one commit interval ({COMMIT_INTERVAL_MS} ms) is about 150"
    );
}
