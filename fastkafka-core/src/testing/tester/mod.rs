//! [`Tester`]: an app under test on a broker of its own, with typed sends, typed waits
//! for what the app produced, a record of its functions' calls, and direct calls.
//!
//! - `mod.rs`: the [`Tester`], [`TesterBuilder`] and start, the app's state, logs and stop;
//! - `send.rs`: sending as another service would;
//! - `read.rs`: reading the app's topics from the Tester's start on ([`Received`]);
//! - `expect.rs`: checks of what arrived on a topic;
//! - `calls.rs`: checks of what the app's functions sent and received;
//! - `direct.rs`: running a function in the app ([`Tester::call`]);
//! - `failure.rs`: [`TestFailure`] and its text;
//! - `shared_broker.rs`: turns on a shared broker, and the app's topics and groups there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use self::read::Reader;
use self::shared_broker::Turn;
use super::logs;
use crate::app::FastKafka;
use crate::calls::Recorder;
use crate::error::Result;
use crate::runtime::{RunningApp, ShutdownReport, StartOptions};

mod calls;
mod direct;
mod expect;
mod failure;
mod read;
mod send;
mod shared_broker;

pub use self::failure::TestFailure;
pub use self::read::Received;

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
        app.topics = shared_broker::topics_for_test(&app);
        let group_suffix = shared.then(|| format!("test-{started_ms}-{id}"));
        if let Some(suffix) = &group_suffix {
            // On a shared broker the app's groups are new each run; they start at the
            // end of their topics, so earlier runs' messages stay out of this test.
            shared_broker::start_groups_at_end(&app, &broker, suffix)?.await?;
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
}

impl Drop for Tester {
    fn drop(&mut self) {
        logs::forget(self.id);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
