//! [`Tester`]: an app under test on a broker of its own, with typed sends, typed waits
//! for what the app produced, a record of its functions' calls, and direct calls.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use super::logs;
use super::record::{decode, encode};
use super::Record;
use crate::app::FastKafka;
use crate::calls::{Call, Recorder};
use crate::error::{Error, Result};
use crate::event::{Delivery, KafkaEvent};
use crate::producer::fill_record;
use crate::runtime::{RunningApp, ShutdownReport, StartOptions};
use crate::state::State;
use crate::sync::LockUnpoisoned;
use crate::tracking::{Outputs, Settled};

/// The environment variable naming the broker every [`Tester`] runs its app against
/// instead of an embedded broker of its own: a broker the app names, or a
/// `HOST:PORT` bootstrap address. Testers then take turns within a test binary.
pub const TEST_BROKER_ENV: &str = "FASTKAFKA_TEST_BROKER";

/// How long [`Tester::next`] and the `expect_*` methods wait by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a Tester waits for its broker at start, unless the app says otherwise.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Tests an app as another service sees it, in a `#[tokio::test]`, with no Kafka
/// installed: the app runs on an embedded broker of its own (or on the broker named by
/// [`TEST_BROKER_ENV`]), its topics created, its background tasks off unless asked
/// for. Testers of one test binary run in parallel and do not see each other's
/// messages.
///
/// ```no_run
/// use fastkafka::prelude::*;
/// use fastkafka::testing::Tester;
///
/// #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
/// struct Greeting { msg: String }
///
/// #[consumes]
/// async fn on_greetings(g: Greeting) -> fastkafka::Result<()> {
///     to_shouts(Greeting { msg: g.msg.to_uppercase() }).await?;
///     Ok(())
/// }
///
/// #[produces]
/// async fn to_shouts(g: Greeting) -> Greeting { g }
///
/// # async fn test() {
/// let tester = Tester::new(FastKafka::builder().build()).await.unwrap();
/// tester.send("greetings", Greeting { msg: "hi".into() }).await.unwrap();
/// tester.expect("shouts", &Greeting { msg: "HI".into() }).await;
/// tester.expect_called_with("to_shouts", &Greeting { msg: "HI".into() }).await;
/// tester.stop().await.unwrap();
/// # }
/// ```
pub struct Tester {
    id: u64,
    running: Option<RunningApp>,
    bootstrap: String,
    client: Vec<(String, String)>,
    recorder: Arc<Recorder>,
    producer: FutureProducer,
    readers: Mutex<HashMap<String, Arc<Mutex<Reader>>>>,
    started_ms: i64,
    /// Whether the broker is the Tester's own (embedded, fresh).
    fresh_broker: bool,
    timeout: Duration,
    /// Held while the app runs on a shared broker: Testers take turns there.
    _turn: Option<Turn>,
}

/// A test's turn on a shared broker: Testers of one test binary run their apps one
/// test at a time there. A test holds it for as long as any of its Testers lives, and
/// may start more (they share the turn: a test is one thread, which is how libtest and
/// `#[tokio::test]` run it).
struct Turn;

/// Which test thread holds the turn, and how many of its Testers live.
static TURN_HOLDER: Mutex<Option<(std::thread::ThreadId, usize)>> = Mutex::new(None);
static TURN_FREED: Notify = Notify::const_new();

impl Turn {
    async fn take() -> Turn {
        let me = std::thread::current().id();
        loop {
            // Registered before the check, so that a release in between wakes it.
            let freed = TURN_FREED.notified();
            {
                let mut holder = TURN_HOLDER.lock_unpoisoned();
                match &mut *holder {
                    None => {
                        *holder = Some((me, 1));
                        return Turn;
                    }
                    Some((thread, testers)) if *thread == me => {
                        *testers += 1;
                        return Turn;
                    }
                    Some(_) => {}
                }
            }
            freed.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut holder = TURN_HOLDER.lock_unpoisoned();
        if let Some((_, testers)) = &mut *holder {
            *testers -= 1;
            if *testers == 0 {
                *holder = None;
                TURN_FREED.notify_waiters();
            }
        }
    }
}

/// Starts a [`Tester`] with options: [`Tester::builder`].
pub struct TesterBuilder {
    app: FastKafka,
    background: bool,
    broker: Option<String>,
    timeout: Duration,
}

impl TesterBuilder {
    /// Runs the app's background tasks too (off by default, so that a test of a
    /// consumer sees only what the consumer does).
    pub fn background_tasks(mut self) -> Self {
        self.background = true;
        self
    }

    /// Runs the app against `broker` (a broker the app names, `embedded`, or
    /// `HOST:PORT`) rather than [`TEST_BROKER_ENV`] or an embedded broker of its own.
    pub fn broker(mut self, broker: impl Into<String>) -> Self {
        self.broker = Some(broker.into());
        self
    }

    /// Runs only the app's functions declared in module `path` and its submodules
    /// (see [`FastKafkaBuilder::include_module`](crate::FastKafkaBuilder::include_module)):
    /// for a test binary that links several apps, each with its own functions.
    pub fn include_module(mut self, path: impl Into<String>) -> Self {
        self.app.modules.push(path.into());
        self
    }

    /// How long [`Tester::next`] and the `expect_*` methods wait (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the app and returns once its producers are ready and its consumers
    /// started.
    pub async fn start(self) -> Result<Tester> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        logs::install();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let broker = self
            .broker
            .or_else(|| {
                std::env::var(TEST_BROKER_ENV)
                    .ok()
                    .filter(|b| !b.is_empty())
            })
            .unwrap_or_else(|| "embedded".to_string());
        let shared = broker != "embedded";
        let turn = if shared {
            Some(Turn::take().await)
        } else {
            None
        };
        let started_ms = now_ms();
        let recorder = Arc::new(Recorder::default());
        let span = tracing::info_span!(target: "fastkafka::testing", "fastkafka_tester", id);
        let mut app = self.app;
        // A broker that does not answer fails the test, saying so, rather than hang it.
        app.startup_timeout.get_or_insert(STARTUP_TIMEOUT);
        // Every topic the app reads or writes exists before the test sends to it.
        app.topics = app.topics_for_test();
        let group_suffix = shared.then(|| format!("test-{started_ms}-{id}"));
        if let Some(suffix) = &group_suffix {
            // On a shared broker the app's groups are new each run; they start at the
            // end of their topics, so earlier runs' messages stay out of this test.
            app.start_groups_at_end(&broker, suffix)?.await?;
        }
        let options = StartOptions {
            recorder: Some(Arc::clone(&recorder)),
            span: span.clone(),
            take_slots: false,
            background: self.background,
            group_suffix,
        };
        let running = {
            use tracing::Instrument;
            app.start_with(&broker, options).instrument(span).await?
        };
        let bootstrap = running.bootstrap_servers().to_string();
        let client = running.client_properties();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &bootstrap)
            .set("message.timeout.ms", "30000");
        for (k, v) in &client {
            config.set(k, v);
        }
        let producer: FutureProducer = config.create()?;
        Ok(Tester {
            id,
            running: Some(running),
            bootstrap,
            client,
            recorder,
            producer,
            readers: Mutex::new(HashMap::new()),
            started_ms,
            fresh_broker: !shared,
            timeout: self.timeout,
            _turn: turn,
        })
    }
}

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

/// Why a [`Tester`] check failed: what was expected, what arrived instead, and the
/// app's recent log lines. Its `Debug` is the message itself, so that `.unwrap()`
/// prints it as it is.
pub struct TestFailure(String);

impl fmt::Debug for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestFailure {}

/// Reads one topic for a Tester, from the Tester's start on.
struct Reader {
    consumer: BaseConsumer,
    assigned: bool,
    buffer: VecDeque<Record>,
}

impl Tester {
    /// Starts `app` as [`Tester::builder`] with the defaults does.
    pub async fn new(app: FastKafka) -> Result<Tester> {
        Tester::builder(app).start().await
    }

    /// A Tester with options: background tasks on, another broker, another timeout.
    pub fn builder(app: FastKafka) -> TesterBuilder {
        TesterBuilder {
            app,
            background: false,
            broker: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The app's `bootstrap.servers`, for clients of the test's own.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The running app (its counts, its scope).
    pub fn app(&self) -> &RunningApp {
        self.running
            .as_ref()
            .expect("the Tester's app runs until stop() consumes the Tester")
    }

    /// Sends `message` to `topic` as another service would (a plain producer, not the
    /// app's), with no key, and waits until the broker has it. The message is encoded
    /// as a `#[produces]` function would encode it: `String` and `Vec<u8>` as they
    /// are, anything else as JSON. [`Tester::send_event`] gives a key, a partition or
    /// headers.
    pub async fn send<T: Serialize + 'static>(&self, topic: &str, message: T) -> Result<Delivery> {
        self.send_event(topic, KafkaEvent::new(message)).await
    }

    /// Sends `event` (a message with a key, a pinned partition, headers) to `topic`, as
    /// [`Tester::send`] does.
    pub async fn send_event<T: Serialize + 'static>(
        &self,
        topic: &str,
        event: KafkaEvent<T>,
    ) -> Result<Delivery> {
        let payload = encode(&event.message).map_err(|source| Error::Encode {
            topic: topic.to_string(),
            source,
        })?;
        self.send_bytes(topic, event.map(|_| payload)).await
    }

    /// Sends bytes to `topic` as they are, for messages the app cannot decode: a
    /// `Vec<u8>`, or a `KafkaEvent<Vec<u8>>` with a key, partition or headers.
    pub async fn send_raw(
        &self,
        topic: &str,
        event: impl Into<KafkaEvent<Vec<u8>>>,
    ) -> Result<Delivery> {
        self.send_bytes(topic, event.into()).await
    }

    async fn send_bytes(&self, topic: &str, event: KafkaEvent<Vec<u8>>) -> Result<Delivery> {
        let record = fill_record(
            FutureRecord::<[u8], [u8]>::to(topic),
            &event,
            event.partition,
        );
        match self.producer.send(record, Duration::from_secs(10)).await {
            Ok(delivery) => Ok(Delivery {
                topic: Arc::from(topic),
                partition: delivery.partition,
                offset: delivery.offset,
                timestamp: None,
            }),
            Err((source, _)) => Err(Error::Delivery {
                topic: topic.to_string(),
                source,
            }),
        }
    }

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

    /// Waits for the next message on `topic` and checks that it is `expected`;
    /// panics otherwise, saying what arrived instead (or that nothing did) and showing
    /// the app's recent log lines. Returns the message with where it landed.
    pub async fn expect<T>(&self, topic: &str, expected: &T) -> Received<T>
    where
        T: DeserializeOwned + PartialEq + fmt::Debug + 'static,
    {
        match self.next::<T>(topic).await {
            Ok(received) if received.message == *expected => received,
            Ok(received) => panic!(
                "{}",
                self.failure(format!(
                    "expected on `{topic}`: {expected:?}\n  arrived instead: {:?} (partition {}, offset {}, key {:?})",
                    received.message,
                    received.partition,
                    received.offset,
                    received.key_text()
                ))
            ),
            Err(failure) => panic!("expected on `{topic}`: {expected:?}\n{failure}"),
        }
    }

    /// Checks that nothing (more) arrives on `topic` within `wait`; panics with what
    /// did, or when the topic does not exist (a misspelt name must not pass).
    pub async fn expect_nothing(&self, topic: &str, wait: Duration) {
        let next = match self.next_raw_within(topic, wait).await {
            Ok(next) => next,
            // A topic that does not exist is a misspelt name, not "nothing".
            Err(failure) => panic!("expected nothing more on `{topic}`: {failure}"),
        };
        if let Some(raw) = next {
            panic!(
                "{}",
                self.failure(format!(
                    "expected nothing more on `{topic}`, but partition {} offset {} arrived: {}",
                    raw.partition,
                    raw.offset,
                    raw.payload_text()
                ))
            );
        }
    }

    /// What the app's function `function` sent (a `#[produces]` function) or received
    /// (a `#[consumes]` function) so far, in order.
    pub fn calls(&self, function: &str) -> Vec<Call> {
        self.recorder.calls_of(function)
    }

    /// Waits until the app's function `function` sent or received `expected`; panics
    /// after the timeout, listing what it did send or receive.
    pub async fn expect_called_with<T>(&self, function: &str, expected: &T) -> Call
    where
        T: DeserializeOwned + PartialEq + fmt::Debug + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        loop {
            let calls = self.recorder.calls_of(function);
            if let Some(call) = calls
                .iter()
                .find(|c| c.message::<T>().is_ok_and(|m| m == *expected))
            {
                return call.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}",
                    self.failure(format!(
                        "expected `{function}` to be called with {expected:?} within {:?}; {}",
                        self.timeout,
                        if calls.is_empty() {
                            format!("it was not called{}", self.unknown_function(function))
                        } else {
                            format!("its calls:{}", listed(&calls))
                        }
                    ))
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Checks that the app's function `function` has not been called; panics with its
    /// calls otherwise, or when the app has no function of that name (a misspelt name
    /// must not pass).
    pub fn assert_not_called(&self, function: &str) {
        let unknown = self.unknown_function(function);
        if !unknown.is_empty() {
            panic!(
                "{}",
                self.failure(format!("cannot check `{function}`{unknown}"))
            );
        }
        let calls = self.recorder.calls_of(function);
        if !calls.is_empty() {
            panic!(
                "{}",
                self.failure(format!(
                    "expected `{function}` not to be called; its calls:{}",
                    listed(&calls)
                ))
            );
        }
    }

    /// The app's state of type `T`, as its functions take it.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.app().state::<T>()
    }

    /// Runs `task` as a task of the app (a producer function called in it sends
    /// through the app), and waits until every message it queued is acknowledged or
    /// failed: call a consumer function directly, as a unit test, with what it
    /// produces written to the Tester's broker and recorded (see
    /// [`Tester::calls`]). `Err` says which output failed.
    ///
    /// ```no_run
    /// # use fastkafka::prelude::*;
    /// # #[consumes] async fn on_greetings(msg: String) -> fastkafka::Result<()> { to_shouts(msg.to_uppercase()).await?; Ok(()) }
    /// # #[produces] async fn to_shouts(msg: String) -> String { msg }
    /// # async fn demo(tester: fastkafka::testing::Tester) {
    /// tester.call(on_greetings("hi".into())).await.unwrap().unwrap();
    /// tester.expect_called_with("to_shouts", &"HI".to_string()).await;
    /// # }
    /// ```
    pub async fn call<F: Future>(&self, task: F) -> std::result::Result<F::Output, TestFailure> {
        let wake = Arc::new(Notify::new());
        let outputs = Outputs::new(Arc::clone(&wake));
        let output = self.app().scope(outputs.scope(task)).await;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let notified = wake.notified();
            match outputs.settled() {
                Settled::Acknowledged => return Ok(output),
                Settled::Failed(failure) => {
                    return Err(self.failure(format!(
                        "a message the call produced failed: {}",
                        failure.message
                    )))
                }
                Settled::Pending => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(self.failure(format!(
                    "the messages the call produced were not acknowledged within {:?}",
                    self.timeout
                )));
            }
        }
    }

    /// The app's recent log lines (the last 200), oldest first.
    pub fn logs(&self) -> Vec<String> {
        logs::recent(self.id)
    }

    /// Stops the app cleanly (what [`RunningApp::stop`] does) and returns its report.
    /// Dropping the Tester instead (a failed test) stops it too, waiting less.
    pub async fn stop(mut self) -> Result<ShutdownReport> {
        let running = self.running.take().expect("stop() runs once");
        running.stop().await
    }

    /// `message` with the app's recent log lines.
    fn failure(&self, message: String) -> TestFailure {
        let lines = self.logs();
        let shown = lines.len().min(30);
        let mut text = message;
        text.push_str(&format!("\n  the app's last {shown} log lines:"));
        for line in &lines[lines.len() - shown..] {
            text.push_str("\n    ");
            text.push_str(line);
        }
        TestFailure(text)
    }

    /// A hint when `function` is none of the app's functions.
    fn unknown_function(&self, function: &str) -> String {
        let app = self.app();
        if app.functions().any(|f| f == function) {
            String::new()
        } else {
            let known: Vec<&str> = app.functions().collect();
            format!(
                " (the app has no function `{function}`; its functions: {})",
                known.join(", ")
            )
        }
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
    async fn next_raw_within(
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
            let partitions = super::wait_for_partitions(&self.consumer, topic, deadline)?;
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
                Some(Err(e)) if super::is_transient(&e) => {}
                Some(Err(e)) => return Err(e.into()),
                None => {}
            }
        }
    }
}

impl Drop for Tester {
    fn drop(&mut self) {
        logs::forget(self.id);
    }
}

/// Calls for a failure message, one indented line each.
fn listed(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| format!("\n    {}", c.describe()))
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl FastKafka {
    /// What a Tester creates at start: what the app creates, and every other topic its
    /// functions read or write (with the embedded broker's default partition count).
    fn topics_for_test(&self) -> Vec<(String, i32)> {
        let mut topics = self.topics_to_create();
        let used = self
            .consumers()
            .filter(|s| s.broker.is_none())
            .map(|s| s.topic)
            .chain(
                self.producers()
                    .filter(|s| s.broker.is_none())
                    .map(|s| s.topic),
            );
        for topic in used {
            if !topics.iter().any(|(t, _)| t == topic) {
                topics.push((topic.to_string(), crate::DEFAULT_PARTITIONS));
            }
        }
        topics
    }

    /// Before a Tester runs the app on a shared broker under new group names (the
    /// app's with `suffix`): commits, for each new group, the end of every topic its
    /// consumers read, so that they start at what is new.
    ///
    /// Returns a future that does not borrow the app.
    fn start_groups_at_end(
        &self,
        broker: &str,
        suffix: &str,
    ) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
        let resolved = self.resolve_broker(broker)?;
        let (topics, replication, timeout) = (
            self.topics.clone(),
            self.replication_factor,
            self.startup_timeout,
        );
        let app_group = self.group_id();
        let mut groups: Vec<(String, &'static str)> = Vec::new();
        for spec in self.consumers() {
            let group = spec
                .group_id
                .map_or_else(|| app_group.clone(), str::to_string);
            groups.push((format!("{group}-{suffix}"), spec.topic));
        }
        Ok(async move {
            crate::topics::ensure(&resolved, &topics, replication, timeout).await?;
            let (bootstrap, properties) = (resolved.bootstrap.clone(), resolved.properties.clone());
            tokio::task::spawn_blocking(move || -> Result<()> {
                for (group, topic) in groups {
                    let mut config = ClientConfig::new();
                    config
                        .set("bootstrap.servers", &bootstrap)
                        .set("group.id", &group)
                        .set("enable.auto.commit", "false");
                    for (k, v) in &properties {
                        config.set(k, v);
                    }
                    let consumer: BaseConsumer = config.create()?;
                    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                    let Some(t) = metadata
                        .topics()
                        .iter()
                        .find(|t| t.name() == topic && t.error().is_none())
                    else {
                        // Not there yet: the app creates it, and reads it from the start.
                        continue;
                    };
                    let mut ends = TopicPartitionList::new();
                    for p in t.partitions() {
                        let (_, high) =
                            consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
                        ends.add_partition_offset(topic, p.id(), Offset::Offset(high))?;
                    }
                    consumer.commit(&ends, CommitMode::Sync)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| Error::panicked("preparation of the test's consumer groups", e))?
        })
    }
}
