//! Starting a consumer, stopping it, and leaving its group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::counts::{ConsumerCounts, Counters};
use super::hooks::{HookRunner, RebalanceHooks};
use super::partition::Partitions;
use super::poll::{Joining, Poller};
use super::rebalance::RebalanceGuard;
use super::spec::ConsumerSpec;
use super::Shared;
use crate::client::ClientLog;
use crate::context::AppContext;
use crate::error::{Error, Result};
use crate::producer::TopicBinding;

/// Consumer defaults: FastKafka's `earliest`, and offsets stored by fastkafka only
/// after processing, committed by the poll thread every second.
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("auto.offset.reset", "earliest"),
    ("enable.auto.offset.store", "false"),
    ("auto.commit.interval.ms", "1000"),
];

/// librdkafka's default `session.timeout.ms`.
const LIBRDKAFKA_SESSION_TIMEOUT_MS: u64 = 45_000;
/// librdkafka's default `max.poll.interval.ms`.
const LIBRDKAFKA_MAX_POLL_INTERVAL_MS: u64 = 300_000;

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
    /// The app's producers: its handlers' producer calls send through them.
    pub(crate) app: Arc<AppContext>,
    /// The app's rebalance hooks.
    pub(crate) hooks: Arc<RebalanceHooks>,
    /// `bootstrap.servers` and the broker's properties: what a hook's own client needs.
    pub(crate) connection: Vec<(String, String)>,
}

/// A started consumer; [`RunningConsumer::stop`] ends it cleanly.
pub(crate) struct RunningConsumer {
    pub(crate) function: &'static str,
    stop: Arc<AtomicBool>,
    counts: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<Arc<BaseConsumer<RebalanceGuard>>>>,
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
        check_hook_timeout(spec.function, &config, &setup.hooks)?;

        let partitions: Partitions = Arc::new(Mutex::new(HashMap::new()));
        let span =
            tracing::info_span!(parent: &setup.app.span, "consumer", function = spec.function);
        let hooks = (!setup.hooks.is_empty()).then(|| HookRunner {
            hooks: Arc::clone(&setup.hooks),
            app: Arc::clone(&setup.app),
            runtime: tokio::runtime::Handle::current(),
            function: spec.function,
            topic: spec.topic,
            group_id: setup.group_id.clone(),
            connection: setup.connection.into(),
        });
        let context = RebalanceGuard {
            function: spec.function,
            span: span.clone(),
            partitions: Arc::clone(&partitions),
            shared: OnceLock::new(),
            revoked: Mutex::new(Vec::new()),
            has_revoked: AtomicBool::new(false),
            unsaved: Mutex::new(HashMap::new()),
            stored: Mutex::new(HashMap::new()),
            confirmed: Mutex::new(HashMap::new()),
            grace: setup.grace,
            joined: AtomicBool::new(false),
            log: ClientLog::new(format!("consumer {}", spec.function)),
            oauth: setup.oauth,
            hooks,
        };
        let consumer: Arc<BaseConsumer<RebalanceGuard>> = Arc::new(
            config
                .create_with_context(context)
                .map_err(|source| Error::Client {
                    what: format!("consumer for `{}`", spec.function),
                    source,
                })?,
        );
        consumer.subscribe(&[spec.topic])?;
        tracing::info!(
            function = spec.function,
            topic = spec.topic,
            group_id = setup.group_id,
            "consumer started; joining its group"
        );
        let session_timeout_ms = config
            .get("session.timeout.ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(LIBRDKAFKA_SESSION_TIMEOUT_MS);

        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            spec,
            counts: Arc::clone(&counts),
            consumer,
            dead_letter: setup.dead_letter,
            app: setup.app,
            topic: Arc::from(spec.topic),
            span,
        });
        let poller = Poller {
            shared,
            partitions,
            runtime: tokio::runtime::Handle::current(),
            stop: Arc::clone(&stop),
            grace: setup.grace,
            commit_every,
            joining: Joining {
                group_id: setup.group_id,
                session_timeout: Duration::from_millis(session_timeout_ms),
                since: Instant::now(),
            },
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
    /// the returned [`StoppedMember`] is closed: an app stops all its consumers first and
    /// only then lets them leave, because a member leaving starts a rebalance, and a
    /// rebalance in progress fails the final commit of every other member.
    pub(crate) async fn stop(mut self) -> Option<StoppedMember> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take()?;
        let committed = tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok()?
            .ok()
            .map(StoppedMember);
        let counts = self.counts.snapshot();
        tracing::info!(
            function = self.function,
            handled = counts.handled,
            dead_lettered = counts.dead_lettered,
            dead_lettered_without_payload = counts.dead_lettered_without_payload,
            skipped = counts.skipped,
            failed_outputs = counts.failed_outputs,
            "consumer stopped"
        );
        committed
    }
}

/// `Err` when the app's rebalance hooks may run longer than librdkafka lets the poll
/// thread go without polling (`max.poll.interval.ms`): past it the consumer leaves its
/// group in the middle of the rebalance the hook serves.
fn check_hook_timeout(function: &str, config: &ClientConfig, hooks: &RebalanceHooks) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let max_poll = config
        .get("max.poll.interval.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(LIBRDKAFKA_MAX_POLL_INTERVAL_MS);
    if hooks.timeout >= Duration::from_millis(max_poll) {
        return Err(Error::Config(format!(
            "consumer `{function}`: the rebalance hooks may take {:?} (FastKafkaBuilder::rebalance_hook_timeout), but max.poll.interval.ms is {max_poll} ms, after which the consumer leaves its group while the hook runs; give the hooks a shorter timeout, or raise max.poll.interval.ms",
            hooks.timeout
        )));
    }
    Ok(())
}

/// A stopped consumer whose offsets are committed, still a member of its group.
pub(crate) struct StoppedMember(pub(super) Arc<BaseConsumer<RebalanceGuard>>);

/// How long leaving the group may take before the consumer is closed regardless.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

impl StoppedMember {
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
        // The rebalance callbacks run here too: in the consumer's span, as on its
        // poll thread.
        let _span = consumer.context().span.clone().entered();
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
