//! Reading a topic from the Tester's start on: one cursor (a [`Reader`]) per topic.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;

use super::failure::{listed, TestFailure};
use super::Tester;
use crate::error::Result;
use crate::sync::LockUnpoisoned;
use crate::testing::record::decode;
use crate::testing::Record;

/// A message the app produced, read back from its topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Received<T> {
    /// The message, decoded.
    pub message: T,
    /// The topic.
    pub topic: String,
    /// The partition it landed in.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The record key, if any.
    pub key: Option<Vec<u8>>,
    /// The record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl<T> Received<T> {
    /// The key as UTF-8 text (lossy).
    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }

    /// The value of the first header named `name`, as UTF-8 text (lossy).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Reads one topic for a Tester, from the Tester's start on.
pub(super) struct Reader {
    consumer: BaseConsumer,
    assigned: bool,
    buffer: VecDeque<Record>,
}

impl Tester {
    /// The next message on `topic` (written by the app, or by anyone, since this
    /// Tester started), decoded as `T`; each call returns the next one. Waits up to the
    /// timeout; the error then says what did arrive, and shows the app's recent log
    /// lines.
    pub async fn next<T: DeserializeOwned + 'static>(
        &self,
        topic: &str,
    ) -> std::result::Result<Received<T>, TestFailure> {
        let raw = self.next_raw(topic).await?;
        match decode::<T>(raw.payload.as_deref().unwrap_or_default()) {
            Ok(message) => Ok(Received {
                message,
                topic: topic.to_string(),
                partition: raw.partition,
                offset: raw.offset,
                key: raw.key,
                headers: raw.headers,
            }),
            Err(e) => Err(self.failure(format!(
                "the next message on `{topic}` (partition {} offset {}) is not a `{}`: {e}\n  it is: {}",
                raw.partition,
                raw.offset,
                std::any::type_name::<T>(),
                raw.payload_text()
            ))),
        }
    }

    /// The next `count` messages on `topic`, as [`Tester::next`] reads them (in the
    /// order they arrive: in order within a partition).
    pub async fn take<T: DeserializeOwned + 'static>(
        &self,
        topic: &str,
        count: usize,
    ) -> std::result::Result<Vec<Received<T>>, TestFailure> {
        let mut taken = Vec::with_capacity(count);
        while taken.len() < count {
            match self.next::<T>(topic).await {
                Ok(received) => taken.push(received),
                Err(failure) => {
                    return Err(TestFailure(format!(
                        "{} of {count} messages arrived on `{topic}`; then {failure}",
                        taken.len()
                    )))
                }
            }
        }
        Ok(taken)
    }

    async fn next_raw(&self, topic: &str) -> std::result::Result<Record, TestFailure> {
        let wait = self.timeout;
        match self.next_raw_within(topic, wait).await? {
            Some(raw) => Ok(raw),
            None => {
                let all = self.recorder.all();
                let last = &all[all.len().saturating_sub(10)..];
                Err(self.failure(format!(
                    "nothing arrived on `{topic}` within {wait:?}; {}",
                    if last.is_empty() {
                        "the app's functions sent and received nothing".to_string()
                    } else {
                        format!(
                            "what the app's functions sent and received last:{}",
                            listed(last)
                        )
                    }
                )))
            }
        }
    }

    /// The next record of `topic` within `wait`, `None` if none came; `Err` if the
    /// topic cannot be read (it does not exist, say).
    pub(super) async fn next_raw_within(
        &self,
        topic: &str,
        wait: Duration,
    ) -> std::result::Result<Option<Record>, TestFailure> {
        let reader = {
            let mut readers = self.readers.lock_unpoisoned();
            match readers.get(topic) {
                Some(r) => Arc::clone(r),
                None => {
                    let mut config = ClientConfig::new();
                    config
                        .set("bootstrap.servers", &self.bootstrap)
                        .set("group.id", format!("fastkafka-tester-{}", self.id))
                        .set("enable.auto.commit", "false")
                        .set("allow.auto.create.topics", "false");
                    for (k, v) in &self.client {
                        config.set(k, v);
                    }
                    let consumer: BaseConsumer = config
                        .create()
                        .map_err(|e| TestFailure(format!("cannot read `{topic}`: {e}")))?;
                    let r = Arc::new(Mutex::new(Reader {
                        consumer,
                        assigned: false,
                        buffer: VecDeque::new(),
                    }));
                    readers.insert(topic.to_string(), Arc::clone(&r));
                    r
                }
            }
        };
        // A broker of the Tester's own holds only this test's records: all of them.
        let since = (!self.fresh_broker).then_some(self.started_ms);
        let name = topic.to_string();
        let found = tokio::task::spawn_blocking(move || {
            let mut reader = reader.lock_unpoisoned();
            reader.next(&name, since, wait)
        })
        .await
        .map_err(|e| TestFailure(format!("reading `{topic}` panicked: {e}")))?;
        found.map_err(|e| self.failure(format!("cannot read `{topic}`: {e}")))
    }
}

impl Reader {
    /// The next record of `topic` (written at or after `since_ms`, if given), waiting
    /// up to `wait`.
    fn next(
        &mut self,
        topic: &str,
        since_ms: Option<i64>,
        wait: Duration,
    ) -> Result<Option<Record>> {
        let deadline = Instant::now() + wait;
        if !self.assigned {
            let partitions = crate::testing::wait_for_partitions(&self.consumer, topic, deadline)?;
            let mut assignment = TopicPartitionList::new();
            match since_ms {
                None => {
                    for p in 0..partitions {
                        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
                    }
                }
                Some(since_ms) => {
                    // The ends before the lookup: where a partition with no record
                    // since the Tester started is read from, so that a record written
                    // after the lookup is not skipped (as `Offset::End` would).
                    let mut ends = HashMap::new();
                    for p in 0..partitions {
                        let (_, high) =
                            self.consumer
                                .fetch_watermarks(topic, p, Duration::from_secs(10))?;
                        ends.insert(p, high);
                    }
                    let mut at = TopicPartitionList::new();
                    for p in 0..partitions {
                        at.add_partition_offset(topic, p, Offset::Offset(since_ms))?;
                    }
                    let at = self
                        .consumer
                        .offsets_for_times(at, Duration::from_secs(10))?;
                    for e in at.elements() {
                        let offset = match e.offset() {
                            Offset::Offset(o) => Offset::Offset(o),
                            // No record at or after the time: from the end as it was.
                            _ => Offset::Offset(ends.get(&e.partition()).copied().unwrap_or(0)),
                        };
                        assignment.add_partition_offset(topic, e.partition(), offset)?;
                    }
                }
            }
            self.consumer.assign(&assignment)?;
            self.assigned = true;
        }
        loop {
            if let Some(raw) = self.buffer.pop_front() {
                return Ok(Some(raw));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.consumer.poll(left.min(Duration::from_millis(100))) {
                Some(Ok(m)) => self.buffer.push_back(Record::of(&m)),
                Some(Err(e)) if crate::testing::is_transient(&e) => {}
                Some(Err(e)) => return Err(e.into()),
                None => {}
            }
        }
    }
}
