//! What a consumer's log lines tell the user: what happened to the messages, checked
//! against what then happens at the broker.
//!
//! One consumer in this binary, so that the broker's injected errors reach it alone;
//! the whole log is captured (one global subscriber) and read back.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use fastkafka::embedded::{EmbeddedBroker, KafkaRequest};
use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::types::RDKafkaRespErr;
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{committed_offsets, eventually, read_topic};

/// How long a test waits for what the app does in the background.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Reading {
    value: f64,
}

/// Offsets handled, in order, over every run.
static HANDLED: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// Periodic commits are off (once every 10 minutes): only the final commit moves the
/// group's offset.
#[consumes(
    topic = "readings",
    group_id = "consumer-log-tests",
    dead_letter = "readings_dlq",
    config = [("auto.commit.interval.ms", "600000")]
)]
async fn on_readings(reading: Reading, meta: EventMetadata) {
    let _ = reading;
    HANDLED.lock().unwrap().push(meta.offset);
}

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines(containing: &str) -> Vec<String> {
    String::from_utf8_lossy(&LOG.lock().unwrap())
        .lines()
        .filter(|l| l.contains(containing))
        .map(str::to_string)
        .collect()
}

fn app() -> FastKafka {
    FastKafka::builder().title("consumer log tests").build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_lettered_tombstone_and_a_failed_final_commit_say_what_happens() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("fastkafka=info")
        .with_ansi(false)
        .with_writer(|| Captured)
        .try_init();
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("readings", 1).unwrap();
    broker.create_topic("readings_dlq", 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    // Offset 1 is a tombstone: a record without payload.
    for payload in [
        Some(&br#"{"value": 1}"#[..]),
        None,
        Some(br#"{"value": 2}"#),
    ] {
        let mut record = BaseRecord::<(), [u8]>::to("readings");
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let running = app().start(bootstrap).await.unwrap();
    eventually("offsets 0 and 2", WAIT, move || {
        HANDLED.lock().unwrap().len() == 2
    })
    .await;
    let dead = read_topic(bootstrap, "readings_dlq", 1, Duration::from_secs(15)).unwrap();
    assert_eq!(dead.len(), 1);
    // The line says it was a tombstone, and how it is written to the dead-letter topic.
    eventually("the dead-letter line", WAIT, move || {
        !log_lines("sent to the dead-letter topic").is_empty()
    })
    .await;
    let line = log_lines("sent to the dead-letter topic").remove(0);
    assert!(
        line.contains("tombstone (a message without payload) sent to the dead-letter topic"),
        "{line}"
    );
    assert!(line.contains("empty payload"), "{line}");
    assert_eq!(dead[0].payload.as_deref(), Some(&b""[..]), "{dead:?}");

    // Every commit from now on is refused: the final one, and the ones on leaving.
    let refused = RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    broker.fail_requests(KafkaRequest::OffsetCommit, &[refused; 20]);
    running.stop().await.unwrap();
    let lines = log_lines("final commit failed");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(" WARN "), "{}", lines[0]);
    assert!(
        lines[0].contains("the messages processed since the last commit are delivered again"),
        "{}",
        lines[0]
    );
    // And so they are: nothing was committed, and a restart handles them again.
    let committed = committed_offsets(bootstrap, "consumer-log-tests", "readings", 1).unwrap();
    assert_eq!(committed, vec![None], "nothing is committed");
    let running = app().start(bootstrap).await.unwrap();
    eventually("offsets 0 and 2 again", WAIT, move || {
        HANDLED.lock().unwrap().len() == 4
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(*HANDLED.lock().unwrap(), vec![0, 2, 0, 2]);
}
