//! Consuming: typed consumer functions in consumer groups, at least once.
//!
//! Each `#[consumes]` function gets its own librdkafka consumer, polled on a dedicated
//! thread. Messages go to one task per assigned partition, which handles them in order
//! (partitions run concurrently). An offset is stored for commit only once its message
//! was handled (or dead-lettered, or deliberately skipped), so everything committed was
//! processed. The poll thread commits the stored offsets every `auto.commit.interval.ms`
//! (1 s by default), and they are committed before partitions are handed over and when
//! the app stops. librdkafka's own auto-commit timer stays off: it fires on librdkafka's
//! thread at any moment, including while the consumer is closing.
//!
//! On a rebalance, the revoked partitions' tasks finish the message in hand (or are
//! abandoned after the grace period, committing nothing for it), the processed offsets
//! are committed, and only then are the partitions handed over. If the broker refuses
//! that commit (a group in the middle of a rebalance may), the progress is remembered
//! and committed when the new assignment gives those partitions back, before fetching
//! resumes there, so that the same messages are not processed twice.

use std::any::Any;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::client_log::ClientLog;
use crate::error::{panic_message, BoxError, Error, Result};
use crate::event::KafkaEvent;
use crate::producer::{send_event, TopicBinding};

/// Where a consumed message came from, for handlers that take it as their second
/// argument.
///
/// ```
/// use fastkafka::prelude::*;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Order { id: u64 }
///
/// #[consumes]
/// async fn on_orders(order: Order, meta: EventMetadata) {
///     println!("order {} from partition {} @ {}", order.id, meta.partition, meta.offset);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
    /// The record key, if any.
    pub key: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The record timestamp in milliseconds since the Unix epoch, if any.
    pub timestamp: Option<i64>,
}

/// A decoded message, type-erased between the decoder and the handler that
/// `#[consumes]` generates.
#[doc(hidden)]
pub type Decoded = Box<dyn Any + Send>;

/// Calls a consumer function with decoded messages and their metadata.
#[doc(hidden)]
pub type HandlerFn =
    fn(Vec<Decoded>, Vec<EventMetadata>) -> BoxFuture<'static, std::result::Result<(), BoxError>>;

/// Calls a consumer function that takes one message (not a batch) with it: no `Vec`s.
#[doc(hidden)]
pub type CallOneFn =
    fn(Decoded, Option<EventMetadata>) -> BoxFuture<'static, std::result::Result<(), BoxError>>;

/// A consumer function, as `#[consumes]` registers it. Not written by hand.
#[doc(hidden)]
pub struct ConsumerSpec {
    /// The function's name.
    pub function: &'static str,
    /// The topic it reads.
    pub topic: &'static str,
    /// `group_id = "..."`; `None` uses the app's group.
    pub group_id: Option<&'static str>,
    /// `auto_offset_reset = "..."`; `None` is `earliest`.
    pub auto_offset_reset: Option<&'static str>,
    /// The named broker it is pinned to; `None` follows `--kafka-broker`.
    pub broker: Option<&'static str>,
    /// `description = "..."`, else the function's doc comment.
    pub description: &'static str,
    /// The message type's Rust name, for the docs.
    pub message_type: &'static str,
    /// The message type's JSON schema.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// Whether the handler takes a batch (`Vec<T>`).
    pub batch: bool,
    /// Whether the handler takes `EventMetadata` (built only then).
    pub with_metadata: bool,
    /// Most messages in one batch.
    pub max_batch: usize,
    /// How long a batch waits to fill up after its first message.
    pub max_wait: Duration,
    /// `dead_letter = "topic"`: where undecodable and failing messages go.
    pub dead_letter: Option<&'static str>,
    /// How many times a failing handler is retried before the message is
    /// dead-lettered or skipped.
    pub retries: u32,
    /// Extra librdkafka consumer properties.
    pub config: &'static [(&'static str, &'static str)],
    /// Decodes one payload.
    pub decode: fn(Option<&[u8]>) -> std::result::Result<Decoded, String>,
    /// `decoder = "json"`: even a `String` or `Vec<u8>` message is read as JSON.
    pub json_decoder: bool,
    /// Calls the user's function with decoded messages (one, unless `batch`).
    pub call: HandlerFn,
    /// The same for one message, without the `Vec`s; `None` for batch functions.
    pub call_one: Option<CallOneFn>,
}

/// A registered consumer function.
#[doc(hidden)]
pub struct ConsumerRef(pub &'static ConsumerSpec);

inventory::collect!(ConsumerRef);

/// Every `#[consumes]` function linked into this binary.
pub(crate) fn registered() -> impl Iterator<Item = &'static ConsumerSpec> {
    inventory::iter::<ConsumerRef>.into_iter().map(|r| r.0)
}

/// Consumer defaults: FastKafka's `earliest`, and offsets stored by fastkafka only
/// after processing, committed by the poll thread every second.
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("auto.offset.reset", "earliest"),
    ("enable.auto.offset.store", "false"),
    ("auto.commit.interval.ms", "1000"),
];

/// Messages waiting for one partition's task; a full queue pauses polling.
const PARTITION_QUEUE: usize = 1024;
const RETRY_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const RETRY_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What a consumer needs to start.
pub(crate) struct ConsumerSetup {
    pub(crate) spec: &'static ConsumerSpec,
    pub(crate) group_id: String,
    pub(crate) bootstrap: String,
    pub(crate) properties: Vec<(String, String)>,
    /// The broker's OAUTHBEARER token function, if any.
    pub(crate) oauth: crate::security::OAuthHook,
    pub(crate) dead_letter: Option<Arc<TopicBinding>>,
    pub(crate) grace: Duration,
}

/// A started consumer; [`RunningConsumer::stop`] ends it cleanly.
pub(crate) struct RunningConsumer {
    pub(crate) function: &'static str,
    stop: Arc<AtomicBool>,
    counts: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<Committed>>,
}

impl RunningConsumer {
    /// Starts polling on a dedicated thread; messages are handled on the current tokio
    /// runtime.
    pub(crate) fn start(setup: ConsumerSetup) -> Result<Self> {
        let spec = setup.spec;
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &setup.bootstrap);
        for (k, v) in CONSUMER_DEFAULTS {
            config.set(*k, *v);
        }
        for (k, v) in &setup.properties {
            config.set(k, v);
        }
        if let Some(reset) = spec.auto_offset_reset {
            config.set("auto.offset.reset", reset);
        }
        for (k, v) in spec.config {
            config.set(*k, *v);
        }
        config.set("group.id", &setup.group_id);
        // What makes the at-least-once promise; the user's settings cannot undo it.
        config.set("enable.auto.offset.store", "false");
        // Commits are ours, at the interval the user chose (see the module docs).
        let commit_every = config
            .get("auto.commit.interval.ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .ok_or_else(|| {
                Error::Config(format!(
                    "consumer `{}`: auto.commit.interval.ms must be a positive number of milliseconds, got {:?}",
                    spec.function,
                    config.get("auto.commit.interval.ms").unwrap_or_default()
                ))
            })?;
        config.set("enable.auto.commit", "false");

        let partitions: Partitions = Arc::new(Mutex::new(HashMap::new()));
        let context = RebalanceGuard {
            function: spec.function,
            partitions: Arc::clone(&partitions),
            shared: OnceLock::new(),
            revoked: Mutex::new(Vec::new()),
            has_revoked: AtomicBool::new(false),
            unsaved: Mutex::new(HashMap::new()),
            stored: Mutex::new(HashMap::new()),
            confirmed: Mutex::new(HashMap::new()),
            grace: setup.grace,
            log: ClientLog::new(format!("consumer {}", spec.function)),
            oauth: setup.oauth,
        };
        let consumer: Arc<BaseConsumer<RebalanceGuard>> =
            Arc::new(config.create_with_context(context).map_err(|e| {
                Error::Config(format!(
                    "cannot create the consumer for `{}`: {e}",
                    spec.function
                ))
            })?);
        consumer.subscribe(&[spec.topic])?;
        tracing::info!(
            function = spec.function,
            topic = spec.topic,
            group_id = setup.group_id,
            "consumer started"
        );

        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            spec,
            counts: Arc::clone(&counts),
            consumer,
            dead_letter: setup.dead_letter,
            topic: Arc::from(spec.topic),
        });
        let poller = Poller {
            shared,
            partitions,
            runtime: tokio::runtime::Handle::current(),
            stop: Arc::clone(&stop),
            grace: setup.grace,
            commit_every,
        };
        let thread = std::thread::Builder::new()
            .name(format!("consumer-{}", spec.function))
            .spawn(move || poller.run())?;
        Ok(RunningConsumer {
            function: spec.function,
            stop,
            counts,
            thread: Some(thread),
        })
    }

    /// What this consumer did with the messages it read so far.
    pub(crate) fn counts(&self) -> ConsumerCounts {
        self.counts.snapshot()
    }

    /// Its live counters, which go on counting while it stops.
    pub(crate) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counts)
    }

    /// Stops fetching, lets in-flight handlers finish (or abandons them after the grace
    /// period) and commits what was processed. The consumer stays in its group until
    /// the returned [`Committed`] is closed: an app stops all its consumers first and
    /// only then lets them leave, because a member leaving starts a rebalance, and a
    /// rebalance in progress fails the final commit of every other member.
    pub(crate) async fn stop(mut self) -> Option<Committed> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take()?;
        let committed = tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok()?
            .ok();
        let counts = self.counts.snapshot();
        tracing::info!(
            function = self.function,
            handled = counts.handled,
            dead_lettered = counts.dead_lettered,
            dead_lettered_without_payload = counts.dead_lettered_without_payload,
            skipped = counts.skipped,
            "consumer stopped"
        );
        committed
    }
}

/// A stopped consumer whose offsets are committed, still a member of its group.
pub(crate) struct Committed(Arc<BaseConsumer<RebalanceGuard>>);

/// How long leaving the group may take before the consumer is closed regardless.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Committed {
    /// Leaves the group and closes the consumer. Blocks until librdkafka has closed it.
    ///
    /// It unsubscribes, then keeps polling (serving the rebalance callbacks, dropping
    /// any prefetched message uncommitted) until librdkafka has taken the assignment
    /// back, and only then closes. Closing while an unsubscribe or a join is still
    /// settling can trip librdkafka's `rd_kafka_cgrp_terminated` assertion and abort
    /// the process (confluentinc/librdkafka#4792); an empty assignment is the path
    /// that close handles without surprises.
    pub(crate) fn close(self) {
        let consumer = self.0;
        let function = consumer.context().function;
        consumer.unsubscribe();
        let deadline = Instant::now() + LEAVE_TIMEOUT;
        loop {
            // Serves pending Assign/Revoke callbacks; messages are dropped unstored.
            let _ = consumer.poll(Duration::from_millis(20));
            let empty = consumer
                .assignment()
                .map(|a| a.count() == 0)
                .unwrap_or(true);
            if empty {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    function,
                    "the group did not take the partitions back within {LEAVE_TIMEOUT:?}; closing anyway"
                );
                break;
            }
        }
        // `Drop` closes: librdkafka leaves the group and serves the last callbacks.
        if Arc::strong_count(&consumer) > 1 {
            tracing::debug!(
                function,
                "an abandoned handler still holds the consumer; it closes when that handler ends"
            );
        }
        drop(consumer);
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What consumers did with the messages they read, for [`RunningApp::consumer_counts`]
/// and the [`ShutdownReport`]: every message read is handled, dead-lettered or
/// skipped once it is committed.
///
/// [`RunningApp::consumer_counts`]: crate::RunningApp::consumer_counts
/// [`ShutdownReport`]: crate::ShutdownReport
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerCounts {
    /// Messages a handler returned `Ok` for.
    pub handled: u64,
    /// Messages sent to their function's dead-letter topic: undecodable, or the handler
    /// failed (after its retries, or at once for a permanent error).
    pub dead_lettered: u64,
    /// Of those, dead-lettered without their payload because the dead-letter topic
    /// refused it permanently (e.g. too large); see [`dead_letter_headers::ORIGINAL_SIZE`].
    pub dead_lettered_without_payload: u64,
    /// Messages given up on and committed without being handled or dead-lettered: no
    /// dead-letter topic is configured, or it refused even the record without payload.
    pub skipped: u64,
}

impl std::ops::AddAssign for ConsumerCounts {
    fn add_assign(&mut self, other: Self) {
        self.handled += other.handled;
        self.dead_lettered += other.dead_lettered;
        self.dead_lettered_without_payload += other.dead_lettered_without_payload;
        self.skipped += other.skipped;
    }
}

/// One consumer's [`ConsumerCounts`], updated by its partition tasks.
#[derive(Default)]
pub(crate) struct Counters {
    handled: std::sync::atomic::AtomicU64,
    dead_lettered: std::sync::atomic::AtomicU64,
    dead_lettered_without_payload: std::sync::atomic::AtomicU64,
    skipped: std::sync::atomic::AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ConsumerCounts {
        let without = self.dead_lettered_without_payload.load(Ordering::Relaxed);
        ConsumerCounts {
            handled: self.handled.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed) + without,
            dead_lettered_without_payload: without,
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// What the poll thread and the partition tasks share.
struct Shared {
    spec: &'static ConsumerSpec,
    counts: Arc<Counters>,
    consumer: Arc<BaseConsumer<RebalanceGuard>>,
    dead_letter: Option<Arc<TopicBinding>>,
    topic: Arc<str>,
}

/// A consumed message, copied out of librdkafka's buffer for the partition's task.
/// Its key and payload live in `buf`, shared by the messages of one chunk: one
/// allocation per chunk, freed when the chunk's last message is dropped, rather than
/// one per message allocated on the poll thread and freed on a worker thread.
struct Fetched {
    partition: i32,
    offset: i64,
    buf: Arc<Vec<u8>>,
    /// Where the key starts in `buf`; the payload follows it.
    start: usize,
    /// The key's length; `None` when there is no key.
    key_len: Option<usize>,
    /// The payload's length; `None` when there is no payload.
    payload_len: Option<usize>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: Option<i64>,
}

/// A message copied into a chunk being filled, before the chunk's buffer is shared.
struct Staged {
    offset: i64,
    start: usize,
    key_len: Option<usize>,
    payload_len: Option<usize>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: Option<i64>,
}

/// One partition's chunk being filled on the poll thread.
struct Staging {
    partition: i32,
    buf: Vec<u8>,
    messages: Vec<Staged>,
}

impl Staging {
    fn new(partition: i32) -> Self {
        Staging {
            partition,
            buf: Vec::new(),
            messages: Vec::with_capacity(CHUNK),
        }
    }

    /// Copies `m` into the chunk; its key, headers and timestamp only `if full`
    /// (they serve only `EventMetadata` and dead-lettering).
    fn push(&mut self, m: &rdkafka::message::BorrowedMessage<'_>, full: bool) {
        let headers = if full {
            m.headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        self.push_parts(
            m.offset(),
            if full { m.key() } else { None },
            m.payload(),
            headers,
            if full {
                m.timestamp().to_millis()
            } else {
                None
            },
        );
    }

    fn push_parts(
        &mut self,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Vec<(String, Vec<u8>)>,
        timestamp: Option<i64>,
    ) {
        let start = self.buf.len();
        if self.buf.capacity() == 0 {
            // Room for a chunk of messages like the first, within CHUNK_BYTES: one
            // large message must not reserve the room of CHUNK large ones.
            let one = key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len);
            self.buf
                .reserve(one.saturating_mul(CHUNK).min(CHUNK_BYTES).max(one));
        }
        if let Some(k) = key {
            self.buf.extend_from_slice(k);
        }
        if let Some(p) = payload {
            self.buf.extend_from_slice(p);
        }
        self.messages.push(Staged {
            offset,
            start,
            key_len: key.map(<[u8]>::len),
            payload_len: payload.map(<[u8]>::len),
            headers,
            timestamp,
        });
    }

    /// Whether the chunk should be handed over now: CHUNK messages, or CHUNK_BYTES of
    /// keys and payloads.
    fn is_full(&self) -> bool {
        self.messages.len() >= CHUNK || self.buf.len() >= CHUNK_BYTES
    }

    /// The chunk's messages, sharing its buffer.
    fn finish(self) -> (i32, Vec<Fetched>) {
        let buf = Arc::new(self.buf);
        let partition = self.partition;
        let messages = self
            .messages
            .into_iter()
            .map(|m| Fetched {
                partition,
                offset: m.offset,
                buf: Arc::clone(&buf),
                start: m.start,
                key_len: m.key_len,
                payload_len: m.payload_len,
                headers: m.headers,
                timestamp: m.timestamp,
            })
            .collect();
        (partition, messages)
    }
}

impl Fetched {
    fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|n| &self.buf[self.start..self.start + n])
    }

    fn payload(&self) -> Option<&[u8]> {
        let start = self.start + self.key_len.unwrap_or(0);
        self.payload_len.map(|n| &self.buf[start..start + n])
    }

    fn metadata(&self, topic: &Arc<str>) -> EventMetadata {
        EventMetadata {
            topic: Arc::clone(topic),
            partition: self.partition,
            offset: self.offset,
            key: self.key().map(<[u8]>::to_vec),
            headers: self.headers.clone(),
            timestamp: self.timestamp,
        }
    }
}

/// Messages go to a partition's task in chunks of up to this many: one wake-up per
/// chunk instead of per message.
const CHUNK: usize = 256;
/// ... and of at most about this many bytes of keys and payloads (a chunk that passes
/// it is handed over at once), so that large messages do not pile up in one buffer.
const CHUNK_BYTES: usize = 1 << 20;
/// A task stores its progress for commit at least every this many messages (and
/// whenever it has nothing queued).
const STORE_EVERY: u64 = 1024;
/// Partial chunks are handed over at least this often while messages keep arriving.
const FLUSH_EVERY: Duration = Duration::from_millis(5);

/// One partition's task, as the poll thread and the rebalance callback see it.
struct PartitionTask {
    tx: mpsc::Sender<Vec<Fetched>>,
    state: Arc<PartitionState>,
    handle: tokio::task::JoinHandle<()>,
}

type Partitions = Arc<Mutex<HashMap<i32, PartitionTask>>>;

/// Whether a partition's task may go on, whether it holds a message right now, and
/// the offset of the last message it settled.
struct PartitionState {
    stop: AtomicBool,
    busy: Mutex<bool>,
    idle: Condvar,
    processed: std::sync::atomic::AtomicI64,
}

impl Default for PartitionState {
    fn default() -> Self {
        PartitionState {
            stop: AtomicBool::new(false),
            busy: Mutex::new(false),
            idle: Condvar::new(),
            processed: std::sync::atomic::AtomicI64::new(-1),
        }
    }
}

impl PartitionState {
    fn set_busy(&self, busy: bool) {
        let mut b = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        *b = busy;
        if !busy {
            self.idle.notify_all();
        }
    }

    /// Blocks until the task holds no message or `deadline` passes; true if idle.
    fn wait_idle(&self, deadline: Instant) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            busy = self
                .idle
                .wait_timeout(busy, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Stores `offset` (the last settled message of `partition`) for the next commit.
fn store(shared: &Shared, partition: i32, offset: i64) {
    if offset < 0 {
        return;
    }
    match shared
        .consumer
        .store_offset(&shared.topic, partition, offset)
    {
        Ok(()) => {
            let mut stored = shared
                .consumer
                .context()
                .stored
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let next = stored.entry(partition).or_insert(offset + 1);
            *next = (*next).max(offset + 1);
        }
        // The partition was revoked meanwhile: its new owner redelivers.
        Err(e) => {
            tracing::debug!(function = shared.spec.function, partition, offset, error = %e, "offset not stored")
        }
    }
}

/// What [`stop_partitions`] left behind.
struct Stopped {
    /// Partitions whose task did not finish in time: their message in hand is not
    /// committed.
    abandoned: Vec<i32>,
    /// `(partition, offset of the next message to read)` where something was settled.
    settled: Vec<(i32, i64)>,
}

/// Stops the given partitions' tasks, waits (up to `grace`) for the message each
/// holds, and stores what each settled.
fn stop_partitions(shared: &Shared, tasks: Vec<(i32, PartitionTask)>, grace: Duration) -> Stopped {
    for (_, task) in &tasks {
        task.state.stop.store(true, Ordering::SeqCst);
    }
    let deadline = Instant::now() + grace;
    let mut stopped = Stopped {
        abandoned: Vec::new(),
        settled: Vec::new(),
    };
    for (p, task) in tasks {
        drop(task.tx);
        if !task.state.wait_idle(deadline) {
            task.handle.abort();
            stopped.abandoned.push(p);
        }
        let processed = task.state.processed.load(Ordering::SeqCst);
        store(shared, p, processed);
        if processed >= 0 {
            stopped.settled.push((p, processed + 1));
        }
    }
    stopped
}

/// The librdkafka consumer context: drains revoked partitions before they are handed over.
struct RebalanceGuard {
    function: &'static str,
    partitions: Partitions,
    /// Set once the poll thread has built what the callbacks need.
    shared: OnceLock<Weak<Shared>>,
    /// Partitions revoked during the last poll: their undispatched messages are dropped.
    revoked: Mutex<Vec<i32>>,
    /// Whether `revoked` may hold something: spares the poll loop a lock per message.
    has_revoked: AtomicBool,
    /// Progress the broker refused to commit while partitions were handed over (a
    /// group in the middle of a rebalance may refuse commits): partition -> offset of
    /// the next message to read. Committed if the partition comes back to this member,
    /// so that it does not process the same messages again.
    unsaved: Mutex<HashMap<i32, i64>>,
    /// The offset of the next message to read, by partition, as last stored for commit.
    stored: Mutex<HashMap<i32, i64>>,
    /// The highest offset the broker confirmed committing for each partition, as seen
    /// by this consumer. A group whose committed offset is later found below it has
    /// lost its state (a broker restarted without its data) or was reset by hand:
    /// either way this consumer's older progress must not be committed over it.
    confirmed: Mutex<HashMap<i32, i64>>,
    grace: Duration,
    log: ClientLog,
    oauth: crate::security::OAuthHook,
}

impl ClientContext for RebalanceGuard {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> std::result::Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.oauth.token(config)
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ConsumerContext for RebalanceGuard {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let revoked: Vec<i32> = match rebalance {
            Rebalance::Revoke(tpl) => tpl.elements().iter().map(|e| e.partition()).collect(),
            Rebalance::Assign(tpl) => {
                let assigned: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.commit_unsaved(consumer, &assigned);
                return;
            }
            Rebalance::Error(_) => return,
        };
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(&revoked);
        self.has_revoked.store(true, Ordering::SeqCst);
        let tasks: Vec<(i32, PartitionTask)> = {
            let mut map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            revoked
                .iter()
                .filter_map(|p| map.remove(p).map(|t| (*p, t)))
                .collect()
        };
        // Commit what is already stored before waiting for handlers in progress: the
        // group may move on while they finish (a broker can then refuse the commit
        // with RebalanceInProgress), and this keeps what can be redelivered to the
        // messages that were in hand.
        commit(
            consumer,
            self.function,
            "commit before handing over partitions failed; it is tried again once their handlers finish",
        );
        let mut settled = Vec::new();
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            let stopped = stop_partitions(&shared, tasks, self.grace);
            if !stopped.abandoned.is_empty() {
                tracing::warn!(
                    function = self.function,
                    partitions = ?stopped.abandoned,
                    "handlers of revoked partitions did not finish within the grace period; their messages are not committed and will be redelivered"
                );
            }
            settled = stopped.settled;
        }
        let handed_over = commit(
            consumer,
            self.function,
            "commit before handing over partitions failed; the progress is committed if the partitions come back to this consumer, else their messages since the last commit are delivered again to the next owner",
        );
        {
            // librdkafka forgets the stored offsets of revoked partitions.
            let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
            for p in &revoked {
                stored.remove(p);
            }
        }
        if !handed_over {
            let mut unsaved = self.unsaved.lock().unwrap_or_else(|e| e.into_inner());
            for (p, next) in settled {
                let entry = unsaved.entry(p).or_insert(next);
                *entry = (*entry).max(next);
            }
        }
        tracing::info!(function = self.function, partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let assigned: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(function = self.function, partitions = ?assigned, "partitions assigned");
        }
    }
}

/// How often a commit refused right after an assignment is tried again.
const UNSAVED_COMMIT_ATTEMPTS: u32 = 3;

impl RebalanceGuard {
    /// Commits the progress a rebalance refused (see `unsaved`) for the partitions
    /// just assigned back to this member, before fetching starts there, so that
    /// fetching resumes after what was processed instead of processing it again.
    ///
    /// Only offsets ahead of the group's committed ones are committed: a partition
    /// that another member owned meanwhile keeps that member's progress. Everything
    /// below an offset committed here was processed, by this member or before it.
    fn commit_unsaved(&self, consumer: &BaseConsumer<Self>, assigned: &[i32]) {
        let mine: Vec<(i32, i64)> = {
            let mut unsaved = self.unsaved.lock().unwrap_or_else(|e| e.into_inner());
            assigned
                .iter()
                .filter_map(|p| unsaved.remove(p).map(|next| (*p, next)))
                .collect()
        };
        if mine.is_empty() {
            return;
        }
        let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut query = TopicPartitionList::new();
        for (p, _) in &mine {
            query.add_partition(&shared.topic, *p);
        }
        let committed = match consumer.committed_offsets(query, UNSAVED_FETCH_TIMEOUT) {
            Ok(committed) => committed,
            Err(e) => {
                tracing::warn!(function = self.function, error = %e, "cannot read the group's committed offsets; messages processed before the last rebalance will be processed again");
                return;
            }
        };
        let mut ahead = TopicPartitionList::new();
        for (p, next) in &mine {
            let theirs = match committed
                .find_partition(&shared.topic, *p)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            if *next <= theirs {
                continue;
            }
            let confirmed = self
                .confirmed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(p)
                .copied();
            if let Some(confirmed) = confirmed.filter(|c| theirs < *c) {
                tracing::warn!(
                    function = self.function,
                    topic = %shared.topic,
                    partition = *p,
                    group_committed = theirs,
                    committed_before = confirmed,
                    processed_up_to = *next,
                    "the group's committed offset went back (did the broker restart without its data, or were the offsets reset?); not committing this consumer's older progress: reading resumes from the group's offset"
                );
                continue;
            }
            // Never commit past the partition's log end: a log that ends before what
            // this member processed is not the log it processed (a broker restarted
            // without its data, an unclean leader election, a topic deleted and
            // recreated). Committing there would skip that many new messages.
            match consumer.fetch_watermarks(&shared.topic, *p, UNSAVED_FETCH_TIMEOUT) {
                Ok((_, end)) if *next > end => {
                    tracing::warn!(
                        function = self.function,
                        topic = %shared.topic,
                        partition = *p,
                        processed_up_to = *next,
                        log_end = end,
                        "the partition's log ends before what this consumer processed (was it truncated or recreated?); not committing that progress: reading follows auto.offset.reset"
                    );
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(function = self.function, topic = %shared.topic, partition = *p, error = %e, "cannot read the partition's log end; not committing the progress a rebalance had refused: those messages will be processed again");
                    continue;
                }
            }
            // Cannot fail: a plain offset is always valid.
            let _ = ahead.add_partition_offset(&shared.topic, *p, Offset::Offset(*next));
        }
        if ahead.count() == 0 {
            return;
        }
        let partitions: Vec<i32> = ahead.elements().iter().map(|e| e.partition()).collect();
        for attempt in 1..=UNSAVED_COMMIT_ATTEMPTS {
            match consumer.commit(&ahead, CommitMode::Sync) {
                Ok(()) => {
                    tracing::info!(function = self.function, partitions = ?partitions, "committed the progress a rebalance had refused; its messages are not processed again");
                    return;
                }
                Err(e) if attempt == UNSAVED_COMMIT_ATTEMPTS => {
                    tracing::warn!(function = self.function, partitions = ?partitions, error = %e, "cannot commit the progress a rebalance had refused; those messages will be processed again");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// How long reading the group's committed offsets after an assignment may take.
const UNSAVED_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Commits the stored offsets now, and remembers them as confirmed by the broker;
/// "nothing to commit" is not worth a warning. False when the broker refused the
/// commit.
///
/// Commits are synchronous, also the periodic ones: librdkafka reports the outcome of
/// an asynchronous manual commit only to an `offset_commit_cb`, which rdkafka's
/// event-based consumer does not set, and the consumer must know what the broker
/// confirmed (see `RebalanceGuard::confirmed`). One round trip a second on the poll
/// thread.
fn commit(consumer: &BaseConsumer<RebalanceGuard>, function: &str, what: &str) -> bool {
    let guard = consumer.context();
    let stored = guard
        .stored
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {
            let mut confirmed = guard.confirmed.lock().unwrap_or_else(|e| e.into_inner());
            for (p, next) in stored {
                let entry = confirmed.entry(p).or_insert(next);
                *entry = (*entry).max(next);
            }
            true
        }
        Err(e) if is_no_offset(&e) => true,
        Err(e) => {
            tracing::warn!(function, error = %e, "{what}");
            false
        }
    }
}

/// True for librdkafka's "nothing to commit".
fn is_no_offset(e: &rdkafka::error::KafkaError) -> bool {
    matches!(
        e,
        rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)
    )
}

/// The poll loop, on its own thread.
struct Poller {
    shared: Arc<Shared>,
    partitions: Partitions,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
    grace: Duration,
    commit_every: Duration,
}

impl Poller {
    /// Polls until told to stop, then settles and commits; returns the consumer,
    /// still in its group (see [`RunningConsumer::stop`]).
    fn run(self) -> Committed {
        let consumer = Arc::clone(&self.shared.consumer);
        let _ = consumer.context().shared.set(Arc::downgrade(&self.shared));
        // Chunks being filled, by partition: a few partitions, so a list beats a map.
        let mut pending: Vec<Staging> = Vec::new();
        // Keys, headers and timestamps are copied only for EventMetadata and for
        // dead-lettering, which keeps the original key and headers.
        let full = self.shared.spec.with_metadata || self.shared.dead_letter.is_some();
        let mut last_flush = Instant::now();
        let mut last_commit = Instant::now();
        let mut polls = 0u32;
        while !self.stop.load(Ordering::SeqCst) {
            // Drain what librdkafka has fetched without waiting; wait only when idle.
            let timeout = if pending.is_empty() {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            let polled = consumer.poll(timeout);
            let drained = polled.is_none();
            // Set (SeqCst) in the rebalance callback, which runs inside `poll`.
            if consumer.context().has_revoked.swap(false, Ordering::SeqCst) {
                let revoked: Vec<i32> = std::mem::take(
                    &mut *consumer
                        .context()
                        .revoked
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()),
                );
                pending.retain(|c| !revoked.contains(&c.partition));
            }
            match polled {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let i = match pending.iter().position(|c| c.partition == partition) {
                        Some(i) => i,
                        None => {
                            pending.push(Staging::new(partition));
                            pending.len() - 1
                        }
                    };
                    let chunk = &mut pending[i];
                    chunk.push(&message, full);
                    if chunk.is_full() {
                        drop(message);
                        let (partition, chunk) = pending.swap_remove(i).finish();
                        self.dispatch(partition, chunk);
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(function = self.shared.spec.function, error = %error, "consumer error")
                }
                None => {}
            }
            // Hand over partial chunks once librdkafka has nothing more for now, or
            // after FLUSH_EVERY while a backlog keeps it busy, so that a quiet
            // partition's messages do not wait behind a busy one's.
            // (The clock is read every 64 polls only.)
            polls = polls.wrapping_add(1);
            if !pending.is_empty()
                && (drained || (polls % 64 == 0 && last_flush.elapsed() >= FLUSH_EVERY))
            {
                for (partition, chunk) in pending.drain(..).map(Staging::finish) {
                    self.dispatch(partition, chunk);
                }
                last_flush = Instant::now();
            }
            if (drained || polls % 1024 == 0) && last_commit.elapsed() >= self.commit_every {
                commit(
                    &consumer,
                    self.shared.spec.function,
                    "periodic commit failed; the next one retries",
                );
                last_commit = Instant::now();
            }
        }
        // Shutdown: finish (or abandon) what is in hand, commit it, leave the group.
        let tasks: Vec<(i32, PartitionTask)> = self
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        let stopped = stop_partitions(&self.shared, tasks, self.grace);
        if !stopped.abandoned.is_empty() {
            tracing::warn!(
                function = self.shared.spec.function,
                partitions = ?stopped.abandoned,
                "handlers did not finish within the grace period; their messages will be redelivered"
            );
        }
        commit(
            &consumer,
            self.shared.spec.function,
            "final commit failed; it is tried again as the consumer leaves its group, and if that fails too, the messages processed since the last commit are delivered again",
        );
        let unsaved: Vec<i32> = consumer
            .context()
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        if !unsaved.is_empty() {
            tracing::warn!(
                function = self.shared.spec.function,
                partitions = ?unsaved,
                "the broker refused to commit progress during a rebalance and these partitions did not come back before the stop; their last processed messages will be redelivered"
            );
        }
        Committed(consumer)
    }

    /// Hands messages to their partition's task, starting the task on first use.
    fn dispatch(&self, partition: i32, chunk: Vec<Fetched>) {
        let tx = {
            let mut map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            let task = map.entry(partition).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(PARTITION_QUEUE / CHUNK);
                let state = Arc::new(PartitionState::default());
                let handle = self.runtime.spawn(partition_task(
                    Arc::clone(&self.shared),
                    partition,
                    rx,
                    Arc::clone(&state),
                ));
                PartitionTask { tx, state, handle }
            });
            task.tx.clone()
        };
        // A full queue blocks this thread: back-pressure on fetching.
        let _ = tx.blocking_send(chunk);
    }
}

/// Handles one partition's messages in order.
///
/// The task is marked busy from taking a chunk off the queue until the queue is empty
/// again (one lock for each, per chunk rather than per message); it checks `stop`
/// before each message, after marking itself busy, so that once `stop_partitions`
/// sees it idle it starts no further message.
async fn partition_task(
    shared: Arc<Shared>,
    partition: i32,
    mut rx: mpsc::Receiver<Vec<Fetched>>,
    state: Arc<PartitionState>,
) {
    let spec = shared.spec;
    let mut buffer: std::collections::VecDeque<Fetched> = std::collections::VecDeque::new();
    let mut unstored = 0u64;
    loop {
        if buffer.is_empty() {
            state.set_busy(false);
            // Nothing queued: a good moment to store the progress for commit.
            if unstored > 0 {
                store(&shared, partition, state.processed.load(Ordering::SeqCst));
                unstored = 0;
            }
            match rx.recv().await {
                Some(chunk) => buffer.extend(chunk),
                None => break,
            }
            state.set_busy(true);
        }
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let (done, last, count) = if spec.batch {
            let deadline = tokio::time::Instant::now() + spec.max_wait;
            while buffer.len() < spec.max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(chunk)) => buffer.extend(chunk),
                    _ => break,
                }
            }
            let n = buffer.len().min(spec.max_batch);
            let batch: Vec<Fetched> = buffer.drain(..n).collect();
            let last = batch.last().map_or(-1, |m| m.offset);
            (handle(&shared, &state, batch).await, last, n as u64)
        } else {
            let Some(m) = buffer.pop_front() else {
                continue;
            };
            (handle_one(&shared, &state, &m).await, m.offset, 1)
        };
        if !done {
            break;
        }
        state.processed.store(last, Ordering::SeqCst);
        unstored += count;
        if unstored >= STORE_EVERY {
            store(&shared, partition, last);
            unstored = 0;
        }
    }
    state.set_busy(false);
}

/// Handles one message for a function that takes one: decode, call with retries,
/// dead-letter or skip what fails. True when the message is settled and its offset may
/// be committed; false when the partition was stopped first.
async fn handle_one(shared: &Shared, state: &PartitionState, m: &Fetched) -> bool {
    let spec = shared.spec;
    let mut decoded = match (spec.decode)(m.payload()) {
        Ok(value) => Some(value),
        Err(error) => return settle_undecodable(shared, state, m, &error).await,
    };
    let mut retries = Retries::new();
    loop {
        let meta = spec.with_metadata.then(|| m.metadata(&shared.topic));
        // The handler takes the message by value: decode afresh for a retry.
        let value = match decoded.take() {
            Some(value) => Ok(value),
            None => (spec.decode)(m.payload()),
        };
        let error = match value {
            Ok(value) => match AssertUnwindSafe(match spec.call_one {
                Some(call_one) => call_one(value, meta),
                None => (spec.call)(vec![value], meta.into_iter().collect()),
            })
            .catch_unwind()
            .await
            {
                Ok(Ok(())) => {
                    shared.counts.handled.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Ok(Err(e)) => Failure::of(&*e),
                Err(panic) => Failure::panic(panic.as_ref()),
            },
            Err(e) => Failure::transient(e),
        };
        match retries.after_failure(shared, state, m, 1, &error).await {
            Next::Again => {}
            Next::GiveUp => {
                return settle_failed(shared, state, m, "handler", &error.message).await
            }
            Next::Stopped => return false,
        }
    }
}

/// Handles a batch (one message unless the function takes a batch): decode, call with
/// retries, dead-letter or skip what fails. True when every message is settled and its
/// offset may be committed; false when the partition was stopped first.
async fn handle(shared: &Shared, state: &PartitionState, messages: Vec<Fetched>) -> bool {
    let spec = shared.spec;
    // Undecodable messages are settled on their own; the rest go to the handler.
    let mut good = Vec::with_capacity(messages.len());
    let mut decoded = Vec::with_capacity(messages.len());
    for m in messages {
        match (spec.decode)(m.payload()) {
            Ok(value) => {
                decoded.push(value);
                good.push(m);
            }
            Err(error) => {
                if !settle_undecodable(shared, state, &m, &error).await {
                    return false;
                }
            }
        }
    }
    if good.is_empty() {
        return true;
    }
    let mut retries = Retries::new();
    loop {
        let metas: Vec<EventMetadata> = if spec.with_metadata {
            good.iter().map(|m| m.metadata(&shared.topic)).collect()
        } else {
            Vec::new()
        };
        // The handler takes the messages by value: decode afresh for a retry.
        let values = if decoded.is_empty() {
            good.iter()
                .filter_map(|m| (spec.decode)(m.payload()).ok())
                .collect()
        } else {
            std::mem::take(&mut decoded)
        };
        let error = match AssertUnwindSafe((spec.call)(values, metas))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => {
                shared
                    .counts
                    .handled
                    .fetch_add(good.len() as u64, Ordering::Relaxed);
                return true;
            }
            Ok(Err(e)) => Failure::of(&*e),
            Err(panic) => Failure::panic(panic.as_ref()),
        };
        match retries
            .after_failure(shared, state, &good[0], good.len(), &error)
            .await
        {
            Next::Again => {}
            Next::GiveUp => {
                for m in &good {
                    if !settle_failed(shared, state, m, "handler", &error.message).await {
                        return false;
                    }
                }
                return true;
            }
            Next::Stopped => return false,
        }
    }
}

/// Logs a message that does not decode, with where it sits, then dead-letters or
/// skips it; false when the partition was stopped first.
async fn settle_undecodable(
    shared: &Shared,
    state: &PartitionState,
    m: &Fetched,
    error: &str,
) -> bool {
    tracing::error!(
        function = shared.spec.function,
        topic = shared.spec.topic,
        partition = m.partition,
        offset = m.offset,
        error,
        "cannot decode message"
    );
    settle_failed(shared, state, m, "decode", error).await
}

/// Why a handler call failed, and whether trying again could help.
struct Failure {
    message: String,
    /// A permanent fastkafka error (e.g. an output too large for the broker): the
    /// same call would fail the same way, so it is not retried.
    permanent: bool,
}

impl Failure {
    fn of(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Self {
        Failure {
            message: error.to_string(),
            permanent: Error::is_permanent_in(error),
        }
    }

    fn panic(payload: &(dyn Any + Send)) -> Self {
        Failure::transient(format!("panicked: {}", panic_message(payload)))
    }

    fn transient(message: String) -> Self {
        Failure {
            message,
            permanent: false,
        }
    }
}

/// A failing handler's retries: up to `spec.retries`, with exponential backoff.
struct Retries {
    attempt: u32,
    backoff: Duration,
}

/// What to do after a failed call.
enum Next {
    /// Call the handler again (the backoff has passed).
    Again,
    /// No retries left: dead-letter or skip.
    GiveUp,
    /// The partition was stopped while waiting: leave the message uncommitted.
    Stopped,
}

impl Retries {
    fn new() -> Self {
        Retries {
            attempt: 0,
            backoff: RETRY_INITIAL_BACKOFF,
        }
    }

    /// After a failed call for `messages` messages starting at `first`: logs the
    /// failure, waits out the backoff when a retry is left, and says what comes next.
    async fn after_failure(
        &mut self,
        shared: &Shared,
        state: &PartitionState,
        first: &Fetched,
        messages: usize,
        failure: &Failure,
    ) -> Next {
        let spec = shared.spec;
        let error = failure.message.as_str();
        if failure.permanent || self.attempt >= spec.retries {
            let what = if failure.permanent {
                "handler failed with a permanent error; giving up on the message without retrying"
            } else {
                "handler failed; giving up on the message"
            };
            tracing::error!(
                function = spec.function,
                topic = spec.topic,
                partition = first.partition,
                offset = first.offset,
                messages,
                attempts = self.attempt + 1,
                error,
                "{what}"
            );
            return Next::GiveUp;
        }
        self.attempt += 1;
        tracing::warn!(
            function = spec.function,
            topic = spec.topic,
            partition = first.partition,
            offset = first.offset,
            attempt = self.attempt,
            retries = spec.retries,
            delay_ms = self.backoff.as_millis() as u64,
            error,
            "handler failed; retrying"
        );
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(RETRY_MAX_BACKOFF);
        if state.stop.load(Ordering::SeqCst) {
            Next::Stopped
        } else {
            Next::Again
        }
    }
}

/// Header names fastkafka adds to a dead-lettered message.
pub mod dead_letter_headers {
    /// Why the message failed: the decode or handler error.
    pub const ERROR: &str = "fastkafka.error";
    /// `decode` or `handler`.
    pub const STAGE: &str = "fastkafka.error.stage";
    /// The topic it was read from.
    pub const TOPIC: &str = "fastkafka.original.topic";
    /// Its partition there.
    pub const PARTITION: &str = "fastkafka.original.partition";
    /// Its offset there.
    pub const OFFSET: &str = "fastkafka.original.offset";
    /// `true` when the original record had no payload (a tombstone): the dead-letter
    /// record's empty payload stands for none.
    pub const TOMBSTONE: &str = "fastkafka.original.tombstone";
    /// Set when the dead-letter record carries no payload because the dead-letter
    /// topic refused it permanently (e.g. too large): the original payload's size in
    /// bytes.
    pub const ORIGINAL_SIZE: &str = "fastkafka.original.size";
    /// With [`ORIGINAL_SIZE`]: why the dead-letter topic refused the payload.
    pub const DEAD_LETTER_ERROR: &str = "fastkafka.dead_letter.error";
}

/// Sends a failed message to the dead-letter topic (waiting for the broker to take it),
/// or logs that it is skipped. False if the partition was stopped before that succeeded.
///
/// A transient failure of the dead-letter write (a broker down, a timeout) is retried
/// until it succeeds or the partition stops. A permanent one (the payload is too large
/// for the producer or the broker, the broker calls the record invalid) cannot succeed
/// by retrying, and must not block the partition: the message is dead-lettered again
/// without its payload, with its original size and the error in headers
/// ([`dead_letter_headers::ORIGINAL_SIZE`], [`dead_letter_headers::DEAD_LETTER_ERROR`]).
/// If even that fails permanently, the message is skipped, logged as an error and
/// counted ([`ConsumerCounts::skipped`]).
async fn settle_failed(
    shared: &Shared,
    state: &PartitionState,
    m: &Fetched,
    stage: &str,
    error: &str,
) -> bool {
    let spec = shared.spec;
    let Some(dlq) = &shared.dead_letter else {
        tracing::warn!(
            function = spec.function,
            topic = spec.topic,
            partition = m.partition,
            offset = m.offset,
            "skipping the message (no dead_letter topic configured); it is committed without being processed"
        );
        shared.counts.skipped.fetch_add(1, Ordering::Relaxed);
        return true;
    };
    let mut event = KafkaEvent::new(m.payload().unwrap_or_default().to_vec());
    event.key = m.key().map(<[u8]>::to_vec);
    event.headers = m.headers.clone();
    event.headers.extend([
        (
            dead_letter_headers::ERROR.to_string(),
            error.as_bytes().to_vec(),
        ),
        (
            dead_letter_headers::STAGE.to_string(),
            stage.as_bytes().to_vec(),
        ),
        (
            dead_letter_headers::TOPIC.to_string(),
            spec.topic.as_bytes().to_vec(),
        ),
        (
            dead_letter_headers::PARTITION.to_string(),
            m.partition.to_string().into_bytes(),
        ),
        (
            dead_letter_headers::OFFSET.to_string(),
            m.offset.to_string().into_bytes(),
        ),
    ]);
    if m.payload().is_none() {
        event
            .headers
            .push((dead_letter_headers::TOMBSTONE.to_string(), b"true".to_vec()));
    }
    let mut backoff = RETRY_INITIAL_BACKOFF;
    let mut without_payload = false;
    loop {
        let sent = match send_event(dlq, event.clone()).await {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(d) => {
                let what = if m.payload().is_none() {
                    "tombstone (a message without payload) sent to the dead-letter topic, where it is written with an empty payload and the header fastkafka.original.tombstone=true"
                } else {
                    "message sent to the dead-letter topic"
                };
                tracing::warn!(
                    function = spec.function,
                    topic = spec.topic,
                    partition = m.partition,
                    offset = m.offset,
                    dead_letter = %d.topic,
                    dead_letter_partition = d.partition,
                    dead_letter_offset = d.offset,
                    without_payload,
                    "{what}"
                );
                let counter = if without_payload {
                    &shared.counts.dead_lettered_without_payload
                } else {
                    &shared.counts.dead_lettered
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e) if e.is_permanent() && !without_payload => {
                tracing::error!(
                    function = spec.function,
                    topic = spec.topic,
                    partition = m.partition,
                    offset = m.offset,
                    size = event.message.len(),
                    error = %e,
                    "the dead-letter topic refused the message permanently; dead-lettering it without its payload (headers fastkafka.original.size and fastkafka.dead_letter.error say why)"
                );
                let size = event.message.len();
                event.message = Vec::new();
                event.headers.extend([
                    (
                        dead_letter_headers::ORIGINAL_SIZE.to_string(),
                        size.to_string().into_bytes(),
                    ),
                    (
                        dead_letter_headers::DEAD_LETTER_ERROR.to_string(),
                        e.to_string().into_bytes(),
                    ),
                ]);
                without_payload = true;
            }
            Err(e) if e.is_permanent() => {
                tracing::error!(
                    function = spec.function,
                    topic = spec.topic,
                    partition = m.partition,
                    offset = m.offset,
                    error = %e,
                    "the dead-letter topic refused even the message without its payload; skipping it: it is committed without being processed or dead-lettered"
                );
                shared.counts.skipped.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e) => {
                tracing::error!(function = spec.function, error = %e, "cannot write to the dead-letter topic; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX_BACKOFF);
                if state.stop.load(Ordering::SeqCst) {
                    return false;
                }
            }
        }
    }
}

/// Decoding by type, picked at compile time like encoding: `String` is UTF-8 text,
/// `Vec<u8>` raw bytes, anything else JSON.
#[doc(hidden)]
pub struct DecodeProbe<T>(pub std::marker::PhantomData<T>);

impl<T> DecodeProbe<T> {
    /// A probe for `T`.
    pub const fn new() -> Self {
        DecodeProbe(std::marker::PhantomData)
    }
}

impl<T> Default for DecodeProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Raw payloads.
#[doc(hidden)]
pub trait DecodeRaw {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String>;
}

impl DecodeRaw for DecodeProbe<Vec<u8>> {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        Ok(Box::new(payload.unwrap_or_default().to_vec()))
    }
}

impl DecodeRaw for DecodeProbe<String> {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        String::from_utf8(payload.unwrap_or_default().to_vec())
            .map(|s| Box::new(s) as Decoded)
            .map_err(|e| format!("payload is not UTF-8 text: {e}"))
    }
}

/// JSON payloads.
#[doc(hidden)]
pub trait DecodeJson {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String>;
}

impl<T: serde::de::DeserializeOwned + Send + 'static> DecodeJson for &DecodeProbe<T> {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        decode_json::<T>(payload)
    }
}

/// Any other type, one auto-reference (`&mut`) after JSON: a type that is neither raw
/// nor `Deserialize`. `#[consumes]` also names such a type in [`incoming_schema_of`],
/// whose error (at the user's parameter, saying which derive is missing) is then the
/// only one: without this impl the method call would fail too, inside the macro's code.
/// It never runs, since that error stops the build.
#[doc(hidden)]
pub trait DecodeUnsupported {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String>;
}

impl<T> DecodeUnsupported for &mut DecodeProbe<T> {
    fn fk_decode(self, _payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        Err(format!(
            "{} is not a message type: it does not implement Deserialize",
            std::any::type_name::<T>()
        ))
    }
}

/// Decodes a JSON payload, whatever the type (`decoder = "json"`).
#[doc(hidden)]
pub fn decode_json<T: serde::de::DeserializeOwned + Send + 'static>(
    payload: Option<&[u8]>,
) -> std::result::Result<Decoded, String> {
    let Some(bytes) = payload else {
        return Err("the message has no payload (a tombstone)".into());
    };
    serde_json::from_slice::<T>(bytes)
        .map(|v| Box::new(v) as Decoded)
        .map_err(|e| format!("invalid JSON for {}: {e}", std::any::type_name::<T>()))
}

/// Takes the decoded messages back out for the user's function. The runtime only ever
/// passes what `decode` produced for this very function, so the downcast holds.
#[doc(hidden)]
pub fn take<T: 'static>(decoded: Vec<Decoded>) -> Vec<T> {
    decoded
        .into_iter()
        .filter_map(|d| d.downcast::<T>().ok().map(|b| *b))
        .collect()
}

/// Takes one decoded message back out (see [`take`]).
#[doc(hidden)]
pub fn take_one<T: 'static>(decoded: Decoded) -> Option<T> {
    decoded.downcast::<T>().ok().map(|b| *b)
}

/// A message type a `#[consumes]` function can receive: `DeserializeOwned` to decode
/// it, `JsonSchema` to document it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be received by a #[consumes] function",
    label = "this message type needs `Deserialize` and `JsonSchema`",
    note = "add `#[derive(Deserialize, JsonSchema)]` to `{Self}`, with the derives of `fastkafka::prelude`: a `JsonSchema` derived with a schemars other than 1.x (e.g. 0.8) does not count"
)]
pub trait Incoming: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static {}

impl<T: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static> Incoming for T {}

/// The JSON schema of a received message type, naming [`Incoming`] so that a missing
/// derive is reported at the user's parameter type.
#[doc(hidden)]
pub fn incoming_schema_of<T: Incoming>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Hello {
        msg: String,
    }

    #[test]
    fn payloads_decode_by_type() {
        let json = (&DecodeProbe::<Hello>::new())
            .fk_decode(Some(br#"{"msg":"hi"}"#))
            .unwrap();
        assert_eq!(take::<Hello>(vec![json]), vec![Hello { msg: "hi".into() }]);
        let text = DecodeProbe::<String>::new().fk_decode(Some(b"hi")).unwrap();
        assert_eq!(take::<String>(vec![text]), vec!["hi".to_string()]);
        let raw = DecodeProbe::<Vec<u8>>::new()
            .fk_decode(Some(&[0, 255]))
            .unwrap();
        assert_eq!(take::<Vec<u8>>(vec![raw]), vec![vec![0u8, 255]]);
    }

    /// The call `#[consumes]` writes, `DecodeProbe::<T>::new().fk_decode(..)`, with the
    /// probe traits in scope: raw, else JSON, else the never-run stand-in.
    #[test]
    fn the_generated_call_picks_raw_then_json_then_the_stand_in() {
        struct NotAMessage;
        let text = DecodeProbe::<String>::new().fk_decode(Some(b"on")).unwrap();
        assert_eq!(take::<String>(vec![text]), vec!["on".to_string()]);
        let json = DecodeProbe::<Hello>::new()
            .fk_decode(Some(br#"{"msg":"hi"}"#))
            .unwrap();
        assert_eq!(take::<Hello>(vec![json]), vec![Hello { msg: "hi".into() }]);
        let err = DecodeProbe::<NotAMessage>::new()
            .fk_decode(Some(b"{}"))
            .unwrap_err();
        assert!(err.contains("does not implement Deserialize"), "{err}");
        // `decoder = "json"`: without the raw decodings in scope, text is JSON.
        mod json_only {
            use super::super::{take, DecodeJson as _, DecodeProbe};
            pub(super) fn decode(payload: &[u8]) -> Result<String, String> {
                let decoded = DecodeProbe::<String>::new().fk_decode(Some(payload))?;
                Ok(take::<String>(vec![decoded]).remove(0))
            }
        }
        assert_eq!(json_only::decode(br#""on""#).unwrap(), "on");
        assert!(json_only::decode(b"on").is_err());
    }

    #[test]
    fn a_large_message_reserves_its_own_size_not_a_chunk_of_them() {
        const MB3: usize = 3 << 20;
        let mut chunk = Staging::new(0);
        let payload = vec![b'x'; MB3];
        chunk.push_parts(0, Some(b"k"), Some(&payload), Vec::new(), None);
        assert!(
            chunk.buf.capacity() < 2 * MB3,
            "reserved {} bytes for one message of {MB3}",
            chunk.buf.capacity()
        );
        assert!(
            chunk.is_full(),
            "a chunk over CHUNK_BYTES is handed over at once"
        );
        let (_, messages) = chunk.finish();
        assert_eq!(messages[0].key(), Some(&b"k"[..]));
        assert_eq!(messages[0].payload().map(<[u8]>::len), Some(MB3));

        let mut small = Staging::new(1);
        small.push_parts(7, None, Some(b"hello"), Vec::new(), None);
        assert!(!small.is_full());
        assert!(small.buf.capacity() <= CHUNK_BYTES);
        let (partition, messages) = small.finish();
        assert_eq!((partition, messages[0].offset), (1, 7));
        assert_eq!(messages[0].payload(), Some(&b"hello"[..]));
    }

    #[test]
    fn decode_errors_say_what_is_wrong() {
        let err = (&DecodeProbe::<Hello>::new())
            .fk_decode(Some(b"{not json"))
            .unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
        let err = (&DecodeProbe::<Hello>::new()).fk_decode(None).unwrap_err();
        assert!(err.contains("tombstone"), "{err}");
        let err = DecodeProbe::<String>::new()
            .fk_decode(Some(&[0xff]))
            .unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
    }
}
