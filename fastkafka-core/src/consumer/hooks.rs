//! Rebalance hooks: the app's functions called with a consumer's partitions when its
//! group assigns them and before the group takes them back, to load and save what the
//! app keeps per partition (FastStream's and Spring's rebalance listeners).
//!
//! A hook runs on the consumer's poll thread, inside librdkafka's rebalance callback:
//! the async hook is driven there with the app's runtime handle (`block_on`), as a task
//! of the app ([`AppContext::scope`]: producer functions and `State<T>` work) and in the
//! consumer's span. While it runs, the consumer fetches and dispatches nothing, so:
//!
//! - an assign hook finishes before any message of its partitions reaches a handler;
//! - a revoke hook runs once the revoked partitions' handlers finished (or were
//!   abandoned after `shutdown_grace`) and their progress was committed, and before
//!   the partitions are handed over; also when the app stops, as it leaves its group.
//!
//! The app's runtime must be a multi-threaded tokio runtime (as `#[tokio::main]` and
//! `fastkafka::main!` make), whose workers drive the hook's timers while the poll
//! thread waits for it.
//!
//! A hook gets at most [`FastKafkaBuilder::rebalance_hook_timeout`]; a hook that
//! fails, panics or overruns is logged (hook, function, topic, partitions) and the
//! consumer goes on: the partitions are consumed (assign) or handed over (revoke)
//! regardless, and no message is lost or skipped for it.
//!
//! [`FastKafkaBuilder::rebalance_hook_timeout`]: crate::FastKafkaBuilder::rebalance_hook_timeout

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::ClientConfig;
use tracing::Instrument;

use crate::context::AppContext;
use crate::error::{panic_message, BoxError, IntoTaskResult};
use crate::state::{state, State, StateNeed};

/// What a rebalance hook is called with: which consumer, and the partitions its group
/// just assigned to it ([`on_partitions_assigned`]) or is about to take back
/// ([`on_partitions_revoked`]).
///
/// ```
/// use fastkafka::RebalanceEvent;
///
/// // A hook can be called directly in a unit test.
/// let event = RebalanceEvent::new("on_payments", "payments", "accounts", vec![0, 2]);
/// assert_eq!(event.partitions, [0, 2]);
/// ```
///
/// [`on_partitions_assigned`]: crate::FastKafkaBuilder::on_partitions_assigned
/// [`on_partitions_revoked`]: crate::FastKafkaBuilder::on_partitions_revoked
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RebalanceEvent {
    /// The `#[consumes]` function whose consumer the partitions belong to.
    pub function: &'static str,
    /// Its topic.
    pub topic: String,
    /// Its consumer group, as the broker knows it (under a
    /// [`Tester`](crate::testing::Tester) on a shared broker, the renamed group).
    pub group_id: String,
    /// The partitions assigned or revoked, in ascending order; never empty.
    pub partitions: Vec<i32>,
    /// How to reach the consumer's broker, for the hook's own clients.
    connection: Arc<[(String, String)]>,
}

impl RebalanceEvent {
    /// An event for `function` reading `topic` in `group_id`, with `partitions`: for
    /// calling a hook in a unit test.
    pub fn new(
        function: &'static str,
        topic: impl Into<String>,
        group_id: impl Into<String>,
        partitions: Vec<i32>,
    ) -> Self {
        RebalanceEvent {
            function,
            topic: topic.into(),
            group_id: group_id.into(),
            partitions,
            connection: Arc::from([]),
        }
    }

    /// The librdkafka settings that reach the consumer's broker: `bootstrap.servers`
    /// and the broker's properties (security, credentials), without a group. A hook
    /// creates its own client with it, e.g. to read back a compacted topic:
    ///
    /// ```no_run
    /// use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
    /// use fastkafka::RebalanceEvent;
    ///
    /// # fn demo(event: RebalanceEvent) -> fastkafka::Result<()> {
    /// let reader: BaseConsumer = event.client_config().set("enable.auto.commit", "false").create()?;
    /// let (low, high) = reader.fetch_watermarks("balances", 0, std::time::Duration::from_secs(5))?;
    /// # let _ = (low, high); Ok(()) }
    /// ```
    ///
    /// It may hold credentials: do not log it. An OAUTHBEARER token function
    /// ([`OAuth`](crate::security::OAuth)) is not part of it.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in self.connection.iter() {
            config.set(k, v);
        }
        config
    }
}

impl std::fmt::Debug for RebalanceEvent {
    /// Without the connection settings, which may hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebalanceEvent")
            .field("function", &self.function)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

/// A rebalance hook's code, its states taken from the app each time it runs.
#[doc(hidden)]
pub type RebalanceFn =
    Arc<dyn Fn(RebalanceEvent) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// A function [`FastKafkaBuilder::on_partitions_assigned`] and
/// [`on_partitions_revoked`] accept: an async closure or function taking a
/// [`RebalanceEvent`], then up to three [`State<T>`] arguments, returning `()` or a
/// `Result`. It is called at every rebalance, so it is a `Fn`: shared state goes in a
/// `State`.
///
/// ```
/// use std::sync::Mutex;
/// use fastkafka::prelude::*;
/// use fastkafka::RebalanceEvent;
///
/// #[derive(Default)]
/// struct Owned(Mutex<Vec<i32>>);
///
/// let app = FastKafka::builder()
///     .state(Owned::default())
///     .on_partitions_assigned(|event: RebalanceEvent, owned: State<Owned>| async move {
///         owned.0.lock().unwrap().extend(&event.partitions);
///     })
///     .on_partitions_revoked(|event: RebalanceEvent, owned: State<Owned>| async move {
///         owned.0.lock().unwrap().retain(|p| !event.partitions.contains(p));
///     })
///     .build();
/// # let _ = app;
/// ```
///
/// [`FastKafkaBuilder::on_partitions_assigned`]: crate::FastKafkaBuilder::on_partitions_assigned
/// [`on_partitions_revoked`]: crate::FastKafkaBuilder::on_partitions_revoked
pub trait RebalanceHook<Args>: Send + Sync + 'static {
    #[doc(hidden)]
    fn needs() -> Vec<StateNeed>;
    #[doc(hidden)]
    fn into_run(self, which: &'static str) -> RebalanceFn;
}

impl<F, Fut, R> RebalanceHook<(RebalanceEvent,)> for F
where
    F: Fn(RebalanceEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoTaskResult,
{
    fn needs() -> Vec<StateNeed> {
        Vec::new()
    }
    fn into_run(self, _which: &'static str) -> RebalanceFn {
        Arc::new(move |event| {
            let called = self(event);
            Box::pin(async move { called.await.into_task_result() })
        })
    }
}

macro_rules! rebalance_hook_with_states {
    ($($state:ident),+) => {
        impl<F, Fut, R, $($state),+> RebalanceHook<(RebalanceEvent, $(State<$state>,)+)> for F
        where
            F: Fn(RebalanceEvent, $(State<$state>),+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoTaskResult,
            $($state: Send + Sync + 'static),+
        {
            fn needs() -> Vec<StateNeed> {
                vec![$(StateNeed::of::<$state>()),+]
            }
            #[allow(non_snake_case)]
            fn into_run(self, which: &'static str) -> RebalanceFn {
                let hook = Arc::new(self);
                Arc::new(move |event| {
                    let hook = Arc::clone(&hook);
                    Box::pin(async move {
                        $(let $state = state::<$state>(which)?;)+
                        hook(event, $($state),+).await.into_task_result()
                    })
                })
            }
        }
    };
}

rebalance_hook_with_states!(A);
rebalance_hook_with_states!(A, B);
rebalance_hook_with_states!(A, B, C);

/// One hook as the app keeps it: what it takes, and its code.
#[derive(Clone)]
pub(crate) struct HookEntry {
    pub(crate) needs: Vec<StateNeed>,
    run: RebalanceFn,
}

impl HookEntry {
    pub(crate) fn new<Args, H: RebalanceHook<Args>>(hook: H, which: &'static str) -> Self {
        HookEntry {
            needs: H::needs(),
            run: hook.into_run(which),
        }
    }
}

/// How long a rebalance hook may run by default.
pub(crate) const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// The app's rebalance hooks, shared by its consumers.
#[derive(Clone)]
pub(crate) struct RebalanceHooks {
    pub(crate) assigned: Option<HookEntry>,
    pub(crate) revoked: Option<HookEntry>,
    pub(crate) timeout: Duration,
}

impl Default for RebalanceHooks {
    fn default() -> Self {
        RebalanceHooks {
            assigned: None,
            revoked: None,
            timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
}

impl RebalanceHooks {
    pub(crate) fn is_empty(&self) -> bool {
        self.assigned.is_none() && self.revoked.is_none()
    }
}

/// Which hook.
#[derive(Clone, Copy)]
pub(super) enum Which {
    Assigned,
    Revoked,
}

/// How errors name the hooks.
pub(crate) const ASSIGNED_HOOK: &str = "the partitions-assigned hook";
pub(crate) const REVOKED_HOOK: &str = "the partitions-revoked hook";

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Assigned => ASSIGNED_HOOK,
            Which::Revoked => REVOKED_HOOK,
        }
    }

    /// What happens when the hook did not succeed.
    fn regardless(self) -> &'static str {
        match self {
            Which::Assigned => {
                "the partitions are consumed regardless, without what the hook should have prepared"
            }
            Which::Revoked => "the partitions are handed over regardless",
        }
    }
}

/// What one consumer needs to run the app's hooks, kept by its consumer context.
pub(super) struct HookRunner {
    pub(super) hooks: Arc<RebalanceHooks>,
    pub(super) app: Arc<AppContext>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) function: &'static str,
    pub(super) topic: &'static str,
    pub(super) group_id: String,
    pub(super) connection: Arc<[(String, String)]>,
}

impl HookRunner {
    /// Runs hook `which` with `partitions`, if the app has it and there are any;
    /// blocks until it finished, failed, panicked or ran out of time, and logs all but
    /// success. Never panics.
    pub(super) fn run(&self, which: Which, partitions: &[i32], span: &tracing::Span) {
        let hook = match which {
            Which::Assigned => &self.hooks.assigned,
            Which::Revoked => &self.hooks.revoked,
        };
        let Some(hook) = hook else { return };
        if partitions.is_empty() {
            return;
        }
        let mut partitions = partitions.to_vec();
        partitions.sort_unstable();
        let event = RebalanceEvent {
            function: self.function,
            topic: self.topic.to_string(),
            group_id: self.group_id.clone(),
            partitions: partitions.clone(),
            connection: Arc::clone(&self.connection),
        };
        let run = Arc::clone(&hook.run);
        let timeout = self.hooks.timeout;
        let task = async move {
            // Calling the hook runs the user's code too (a closure's body before its
            // `async` block): it is caught like a panic in the future.
            let called = AssertUnwindSafe(async move { run(event).await }).catch_unwind();
            tokio::time::timeout(timeout, called).await
        };
        let task = self.app.scope(task.instrument(span.clone()));
        let started = Instant::now();
        let outcome = if tokio::runtime::Handle::try_current().is_err() {
            // The poll thread: a plain thread, where `block_on` may run. It panics if
            // the runtime has shut down meanwhile (an app dropped without a stop, its
            // consumer closing after `main` returned): the hook is then not run.
            std::panic::catch_unwind(AssertUnwindSafe(|| self.runtime.block_on(task))).ok()
        } else {
            // A thread inside the runtime (the consumer closing in `spawn_blocking`,
            // or dropped on a worker), where `block_on` may panic: on a thread of its
            // own.
            std::thread::scope(|s| {
                std::thread::Builder::new()
                    .name(format!("rebalance-{}", self.function))
                    .spawn_scoped(s, || self.runtime.block_on(task))
                    .ok()
                    .and_then(|t| t.join().ok())
            })
        };
        let _entered = span.enter();
        let (hook_name, function, topic) = (which.name(), self.function, self.topic);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Some(Ok(Ok(Ok(())))) => {
                tracing::debug!(hook = hook_name, function, topic, partitions = ?partitions, elapsed_ms, "rebalance hook done");
            }
            Some(Ok(Ok(Err(error)))) => {
                tracing::error!(
                    hook = hook_name, function, topic, partitions = ?partitions, error = %error,
                    "{hook_name} of `{function}` failed for partitions {partitions:?} of `{topic}`: {error}; {}",
                    which.regardless()
                );
            }
            Some(Ok(Err(panic))) => {
                let panic = panic_message(&*panic);
                tracing::error!(
                    hook = hook_name, function, topic, partitions = ?partitions, panic = %panic,
                    "{hook_name} of `{function}` panicked for partitions {partitions:?} of `{topic}`: {panic}; {}",
                    which.regardless()
                );
            }
            Some(Err(_)) => {
                tracing::error!(
                    hook = hook_name, function, topic, partitions = ?partitions, timeout_ms = timeout.as_millis() as u64,
                    "{hook_name} of `{function}` did not finish within {timeout:?} for partitions {partitions:?} of `{topic}` and was cancelled (see FastKafkaBuilder::rebalance_hook_timeout); {}",
                    which.regardless()
                );
            }
            None => {
                tracing::error!(
                    hook = hook_name, function, topic, partitions = ?partitions,
                    "{hook_name} of `{function}` could not be started for partitions {partitions:?} of `{topic}`; {}",
                    which.regardless()
                );
            }
        }
    }
}
