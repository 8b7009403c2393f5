//! Testing apps: [`Tester`] runs an app on a broker of its own, sends to it and checks
//! what it produced; the functions beside it read back what reached a topic with a
//! plain consumer. See `docs/testing.md`.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::error::{Error, Result};

mod logs;
mod record;
mod tester;

pub use self::tester::{Received, TestFailure, Tester, TesterBuilder, TEST_BROKER_ENV};
pub use crate::calls::{Call, CallKind};

/// Tests of one test binary take turns by holding this guard while their app runs.
///
/// Several apps can run in one process at once, each with its own broker, but every
/// app of a binary runs every annotated function unless it is built with
/// [`FastKafkaBuilder::only`](crate::FastKafkaBuilder::only): tests whose apps share
/// functions (and the statics those functions count into) take turns.
///
/// ```no_run
/// # async fn demo(app: fastkafka::FastKafka) -> fastkafka::Result<()> {
/// let _turn = fastkafka::testing::exclusive().await;
/// let running = app.start("embedded").await?;
/// running.stop().await?;
/// # Ok(()) }
/// ```
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// Waits until `condition` holds, checking every 20 ms; panics with `what` after
/// `timeout`. `condition` runs on a blocking thread, so it may call the blocking
/// helpers of this module ([`committed_offsets`], [`read_to_end`]).
///
/// ```no_run
/// # async fn demo(bootstrap: String) {
/// use std::time::Duration;
/// fastkafka::testing::eventually("2 records in `out`", Duration::from_secs(10), move || {
///     fastkafka::testing::read_to_end(&bootstrap, "out", Duration::from_secs(1))
///         .is_ok_and(|r| r.len() == 2)
/// })
/// .await;
/// # }
/// ```
pub async fn eventually<F>(what: &str, timeout: Duration, condition: F)
where
    F: Fn() -> bool + Send + Sync + 'static,
{
    let condition = std::sync::Arc::new(condition);
    let deadline = Instant::now() + timeout;
    loop {
        let check = std::sync::Arc::clone(&condition);
        if tokio::task::spawn_blocking(move || check())
            .await
            .unwrap_or(false)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP port of 127.0.0.1 that was free a moment ago, for a broker on a fixed port
/// ([`EmbeddedBroker::listen_on`](crate::embedded::EmbeddedBroker::listen_on)), e.g. to stop one
/// and start another at the same address.
///
/// ```
/// let port = fastkafka::testing::free_port();
/// assert!(port > 0);
/// ```
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port on 127.0.0.1: {e}"))
}

/// Sends the framework's logs, and librdkafka's warnings (which it forwards), to the
/// test harness, which prints them for a failing test only. `RUST_LOG` filters; the
/// default is `fastkafka=debug,librdkafka=warn`. Call it at the start of each test; it
/// does nothing if a global logger is already set.
///
/// ```
/// fastkafka::testing::capture_logs();
/// ```
pub fn capture_logs() {
    // With the layer that keeps each Tester's lines: a test calling this first must not
    // take them from the Testers of its binary.
    logs::install();
}

/// One record as it sits in a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The payload, if any.
    pub payload: Option<Vec<u8>>,
    /// Headers in order; a header without a value has an empty one.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The record timestamp in milliseconds, if any.
    pub timestamp: Option<i64>,
}

impl Record {
    /// The payload as UTF-8 text (lossy), or "" for none.
    pub fn payload_text(&self) -> String {
        String::from_utf8_lossy(self.payload.as_deref().unwrap_or_default()).into_owned()
    }

    /// The value of the first header named `name`, as UTF-8 text (lossy).
    ///
    /// ```
    /// # let record = fastkafka::testing::Record { topic: "t".into(), partition: 0, offset: 0,
    /// #     key: None, payload: None, timestamp: None,
    /// #     headers: vec![("fastkafka.error.stage".into(), b"decode".to_vec())] };
    /// use fastkafka::dead_letter_headers::STAGE;
    /// assert_eq!(record.header(STAGE).as_deref(), Some("decode"));
    /// ```
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Reads `topic` from the beginning of every partition with a plain consumer (no
/// consumer group, nothing committed) until `count` records arrived or `timeout` passed,
/// and returns them sorted by partition and offset.
///
/// ```no_run
/// # fn demo(bootstrap: &str) -> fastkafka::Result<()> {
/// use std::time::Duration;
/// let records = fastkafka::testing::read_topic(bootstrap, "hello_world", 3, Duration::from_secs(10))?;
/// assert!(records.iter().all(|r| r.key.as_deref() == Some(&b"my_key"[..])));
/// # Ok(()) }
/// ```
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Record>> {
    read(bootstrap, topic, Some(count), timeout)
}

/// Writes one record per payload to `topic` (no key, the broker's partitioning) with a
/// plain producer, as another service would, and waits until the broker has them all.
///
/// ```no_run
/// # fn demo(bootstrap: &str) -> fastkafka::Result<()> {
/// fastkafka::testing::send_payloads(bootstrap, "orders", [r#"{"id":1}"#, r#"{"id":2}"#])?;
/// # Ok(()) }
/// ```
pub fn send_payloads<P: AsRef<[u8]>>(
    bootstrap: &str,
    topic: &str,
    payloads: impl IntoIterator<Item = P>,
) -> Result<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    for payload in payloads {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload.as_ref());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, returned))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// The offsets consumer group `group` has committed for partitions `0..partitions` of
/// `topic`, in partition order: the offset of the next message the group will read
/// there, or `None` where it has committed nothing. A plain client asks; it does not
/// join the group.
///
/// ```no_run
/// # fn demo(bootstrap: &str) -> fastkafka::Result<()> {
/// // Everything the app's consumers processed in a 2-partition topic was committed:
/// let committed = fastkafka::testing::committed_offsets(bootstrap, "my-app", "orders", 2)?;
/// assert_eq!(committed, vec![Some(5), Some(5)]);
/// # Ok(()) }
/// ```
pub fn committed_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Option<i64>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok((0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect())
}

/// Reads every record `topic` holds now: from the beginning of each partition up to
/// its high watermark, sorted by partition and offset.
pub fn read_to_end(bootstrap: &str, topic: &str, timeout: Duration) -> Result<Vec<Record>> {
    read(bootstrap, topic, None, timeout)
}

fn read(
    bootstrap: &str,
    topic: &str,
    count: Option<usize>,
    timeout: Duration,
) -> Result<Vec<Record>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fastkafka-testing-reader")
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .create()?;
    let deadline = Instant::now() + timeout;
    let partitions = wait_for_partitions(&consumer, topic, deadline)?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let count = match count {
        Some(n) => n,
        None => {
            let mut total = 0;
            for p in 0..partitions {
                let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5))?;
                total += (high - low).max(0) as usize;
            }
            total
        }
    };
    let mut records = Vec::new();
    let mut last_transient = None;
    while records.len() < count && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => records.push(Record::of(&m)),
            // Just after a topic is created, a broker that leads one of its
            // partitions may not know it yet: that passes, so keep reading until
            // the deadline and report the error only if nothing else arrives.
            Some(Err(e)) if is_transient(&e) => last_transient = Some(e),
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    if records.len() < count {
        if let Some(e) = last_transient {
            if records.is_empty() {
                return Err(e.into());
            }
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

impl Record {
    /// The record a plain consumer read.
    fn of(m: &rdkafka::message::BorrowedMessage<'_>) -> Record {
        Record {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers: m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default(),
            timestamp: m.timestamp().to_millis(),
        }
    }
}

/// The partition count of `topic`, once the broker knows the topic; `Err` if it does
/// not by `deadline`.
fn wait_for_partitions(consumer: &BaseConsumer, topic: &str, deadline: Instant) -> Result<i32> {
    loop {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
        let n = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if n > 0 {
            return Ok(n as i32);
        }
        if Instant::now() >= deadline {
            return Err(Error::TopicMissing {
                topic: topic.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Errors a reader meets while a new topic's partitions settle on their leaders, or
/// while a leader moves.
fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::UnknownTopicOrPartition
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
                | Code::FencedLeaderEpoch
                | Code::UnknownLeaderEpoch
                | Code::BrokerTransportFailure
                | Code::AllBrokersDown
        )
    )
}
