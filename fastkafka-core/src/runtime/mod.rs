//! The runtime of one worker process: start, run, shut down cleanly.
//!
//! Start: lifespan startup hook, producers (one per broker), background tasks.
//! Stop (SIGINT/SIGTERM or [`RunningApp::stop`]): cancel background tasks within the
//! grace period, unbind and flush producers so nothing queued is lost, run the
//! lifespan shutdown hook.
//!
//! Signals (`signals`) and the two-phase stop of `fastkafka run`'s workers
//! (`stop_barrier`) live beside this file.

mod signals;
mod stop_barrier;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use self::signals::exit_on_second_signal;
pub use self::signals::shutdown_signal;
use self::stop_barrier::stop_barrier;
pub use self::stop_barrier::{COMMITTED_LINE, STOP_BARRIER_ENV};
use crate::app::{FastKafka, Hook, ResolvedBroker};
use crate::background;
use crate::consumer::{self, ConsumerCounts, ConsumerSetup, ConsumerSpec, RunningConsumer};
use crate::error::{Error, Result};
use crate::partition::KeylessStrategy;
use crate::producer::{self, BrokerProducer, DeliveryCounts, ProducerSpec, Router, TopicBinding};

/// One app per process: producer functions find their producer through process-wide
/// registrations, so two apps at once would fight over them.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// How long start-up waits for the broker's first answer before warning that it is
/// unreachable. Not fatal: messages wait in the local queue until it is reachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Consumer settings for the embedded broker (the app's own settings win): quick
/// failure detection, so rebalances after a member left or died take a second or
/// two; and short fetch waits, because the mock cluster answers an empty fetch only
/// when `fetch.wait.max.ms` (500 ms by default) has passed, not when data arrives,
/// which made every message on a quiet topic wait up to half a second.
pub(crate) const EMBEDDED_CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("session.timeout.ms", "2000"),
    ("heartbeat.interval.ms", "500"),
    ("fetch.wait.max.ms", "10"),
];

impl FastKafka {
    /// Runs the app against `broker` until SIGINT or SIGTERM, then shuts down cleanly.
    ///
    /// `broker` is what `--kafka-broker` takes: a broker the app names, `embedded`,
    /// `localhost`, or a `HOST:PORT` bootstrap address.
    pub async fn run(self, broker: &str) -> Result<()> {
        self.run_until(broker, async {
            shutdown_signal().await;
            exit_on_second_signal();
            tracing::info!(
                "a second Ctrl-C (or SIGTERM) exits at once, without waiting for handlers or the flush"
            );
        })
        .await
    }

    /// Runs the app until `stop` completes, then shuts down cleanly. Queued messages
    /// that could not be delivered by then are an error ([`Error::LostAtShutdown`]),
    /// so that a process that lost messages does not exit successfully.
    pub async fn run_until(self, broker: &str, stop: impl Future<Output = ()>) -> Result<()> {
        let running = self.start(broker).await?;
        stop.await;
        tracing::info!("shutting down");
        let report = running.stop().await?;
        let lost = report.undelivered + report.failed_while_flushing;
        if lost > 0 {
            return Err(Error::LostAtShutdown { messages: lost });
        }
        Ok(())
    }

    /// Starts the app against `broker` and returns once its producers are ready and its
    /// background tasks started. Stop it with [`RunningApp::stop`].
    ///
    /// ```no_run
    /// # async fn demo(app: fastkafka::FastKafka) -> fastkafka::Result<()> {
    /// let running = app.start("embedded").await?;
    /// // ... call producer functions, watch the topics ...
    /// let report = running.stop().await?;
    /// assert_eq!(report.undelivered, 0);
    /// # Ok(()) }
    /// ```
    pub async fn start(mut self, broker: &str) -> Result<RunningApp> {
        if RUNNING.swap(true, Ordering::SeqCst) {
            return Err(Error::Config(
                "another fastkafka app is already running in this process; stop it first \
                 (tests that start apps take turns with `fastkafka::testing::exclusive().await`)"
                    .into(),
            ));
        }
        match self.start_inner(broker).await {
            Ok(running) => Ok(running),
            Err(e) => {
                RUNNING.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    async fn start_inner(&mut self, broker: &str) -> Result<RunningApp> {
        let resolved = self.resolve_broker(broker)?;
        if let Some(embedded) = &resolved.embedded {
            tracing::info!(
                bootstrap = embedded.bootstrap_servers(),
                "started the embedded Kafka broker"
            );
        }
        tracing::info!(
            broker = resolved.name,
            bootstrap = resolved.bootstrap,
            "using Kafka broker"
        );

        if let Some(hook) = self.startup.take() {
            tracing::info!("running the startup hook");
            hook().await.map_err(|source| Error::User {
                context: "the startup hook failed".into(),
                source,
            })?;
        }

        crate::connect::check(&resolved, self.startup_timeout).await?;
        crate::topics::ensure(
            &resolved,
            &self.topics_to_create(),
            self.replication_factor,
            self.startup_timeout,
        )
        .await?;
        let (producers, specs) = self.start_producers(&resolved)?;
        for p in &producers {
            let p = Arc::clone(p);
            let topics: Vec<&'static str> = specs
                .iter()
                .filter(|s| s.broker.unwrap_or(&resolved.name) == p.broker)
                .map(|s| s.topic)
                .collect();
            let reachable = tokio::task::spawn_blocking(move || {
                p.probe(PROBE_TIMEOUT, &topics).err().map(|e| (p, e))
            })
            .await
            .ok()
            .flatten();
            if let Some((p, error)) = reachable {
                tracing::warn!(
                    broker = p.broker,
                    error = %error,
                    "Kafka broker not reachable yet; messages wait in the local queue until it is"
                );
            }
        }

        let consumers = match self.start_consumers(&resolved, &producers) {
            Ok(c) => c,
            Err(e) => {
                for spec in &specs {
                    spec.slot.unbind();
                }
                return Err(e);
            }
        };

        let tasks = background::registered()
            .map(|task| (task.name, tokio::spawn(background::supervise(task))))
            .collect();

        Ok(RunningApp {
            bootstrap: resolved.bootstrap.clone(),
            _broker: resolved,
            producers,
            specs,
            consumers,
            tasks,
            shutdown_hook: self.shutdown.take(),
            grace: self.shutdown_grace,
            flush_timeout: self.flush_timeout,
        })
    }

    /// The broker a function pinned with `broker = "name"`, when it is not the one the
    /// app runs against (`None`: use that one). `who` names the function for the error.
    fn pinned_broker(
        &self,
        run_broker: &ResolvedBroker,
        pinned: Option<&str>,
        who: impl FnOnce() -> String,
    ) -> Result<Option<ResolvedBroker>> {
        match pinned {
            Some(name) if name != run_broker.name => self
                .resolve_broker(name)
                .map(Some)
                .map_err(|e| Error::Config(format!("{}: {e}", who()))),
            _ => Ok(None),
        }
    }

    /// Starts every registered consumer function, each in its group; a dead-letter
    /// topic is written through its broker's producer (created if no producer function
    /// uses that broker).
    fn start_consumers(
        &self,
        run_broker: &ResolvedBroker,
        producers: &[Arc<BrokerProducer>],
    ) -> Result<Vec<RunningConsumer>> {
        let specs: Vec<&'static ConsumerSpec> = consumer::registered().collect();
        let app_group = self.group_id();
        let mut seen: Vec<(&str, String, &str)> = Vec::new();
        let mut running = Vec::new();
        let mut extra_producers: Vec<Arc<BrokerProducer>> = Vec::new();
        for spec in specs {
            let group_id = spec
                .group_id
                .map_or_else(|| app_group.clone(), str::to_string);
            if let Some((_, _, other)) = seen
                .iter()
                .find(|(t, g, _)| *t == spec.topic && *g == group_id)
            {
                return Err(Error::Config(format!(
                    "consumers `{other}` and `{}` both read topic `{}` in group `{group_id}`, so each would get only some of its partitions; give one of them its own group_id",
                    spec.function, spec.topic
                )));
            }
            seen.push((spec.topic, group_id.clone(), spec.function));
            let pinned = self.pinned_broker(run_broker, spec.broker, || {
                format!("consumer `{}`", spec.function)
            })?;
            let target = pinned.as_ref().unwrap_or(run_broker);
            let dead_letter = match spec.dead_letter {
                None => None,
                Some(topic) => {
                    let producer = match producers
                        .iter()
                        .chain(&extra_producers)
                        .find(|p| p.broker == target.name)
                    {
                        Some(p) => Arc::clone(p),
                        None => {
                            let p =
                                Arc::new(BrokerProducer::new(target, &self.producer_config, None)?);
                            extra_producers.push(Arc::clone(&p));
                            p
                        }
                    };
                    let router = Router::new(spec.function, None, KeylessStrategy::Sticky);
                    Some(Arc::new(TopicBinding::new(producer, topic, router)))
                }
            };
            let mut properties = Vec::new();
            if target.is_embedded() {
                // The mock cluster holds a group's rebalance for a session timeout after its
                // last member left, so a restarted app would wait 44 s with the default.
                properties.extend(
                    EMBEDDED_CONSUMER_DEFAULTS
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                );
            }
            properties.extend(target.properties.iter().cloned());
            properties.extend(self.consumer_config.iter().cloned());
            running.push(RunningConsumer::start(ConsumerSetup {
                spec,
                group_id,
                bootstrap: target.bootstrap.clone(),
                properties,
                oauth: target.oauth.clone(),
                dead_letter,
                grace: self.shutdown_grace,
            })?);
        }
        Ok(running)
    }

    /// One producer per broker that a registered producer function sends to; binds
    /// every function to its producer.
    fn start_producers(
        &self,
        run_broker: &ResolvedBroker,
    ) -> Result<(Vec<Arc<BrokerProducer>>, Vec<&'static ProducerSpec>)> {
        let mut producers: Vec<Arc<BrokerProducer>> = Vec::new();
        let specs: Vec<&'static ProducerSpec> = producer::registered().collect();
        for spec in &specs {
            let pinned = self.pinned_broker(run_broker, spec.broker, || {
                format!("producer `{}`", spec.function)
            })?;
            let target = pinned.as_ref().unwrap_or(run_broker);
            let producer = match producers.iter().find(|p| p.broker == target.name) {
                Some(p) => Arc::clone(p),
                None => {
                    let p = Arc::new(BrokerProducer::new(
                        target,
                        &self.producer_config,
                        self.on_delivery.clone(),
                    )?);
                    producers.push(Arc::clone(&p));
                    p
                }
            };
            let router = Router::new(
                spec.function,
                spec.partitioner.or(self.partitioner),
                spec.keyless.unwrap_or(self.keyless),
            );
            spec.slot
                .bind(Arc::new(TopicBinding::new(producer, spec.topic, router)));
            tracing::info!(
                function = spec.function,
                topic = spec.topic,
                broker = target.name,
                "producer ready"
            );
        }
        Ok((producers, specs))
    }
}

/// A started app. Stop it with [`RunningApp::stop`]; dropping it instead cancels its
/// background tasks and flushes its producers for at most five seconds (blocking).
pub struct RunningApp {
    bootstrap: String,
    // Keeps the embedded broker (if any) alive while the app runs.
    _broker: ResolvedBroker,
    producers: Vec<Arc<BrokerProducer>>,
    specs: Vec<&'static ProducerSpec>,
    consumers: Vec<RunningConsumer>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    shutdown_hook: Option<Hook>,
    grace: Duration,
    flush_timeout: Duration,
}

/// What a clean shutdown achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Delivery counts over the whole run, all producers together.
    pub deliveries: DeliveryCounts,
    /// Messages still unacknowledged when the flush timeout ran out (0 on a clean stop).
    pub undelivered: u64,
    /// Messages that failed while the producers were flushed at shutdown (their
    /// callers may be gone; each failure was logged).
    pub failed_while_flushing: u64,
    /// Background tasks that did not stop within the grace period.
    pub tasks_not_stopped: usize,
    /// What the consumers did with the messages they read, all together.
    pub consumed: ConsumerCounts,
}

impl RunningApp {
    /// The `bootstrap.servers` the app runs against.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Delivery counts so far, all producers together.
    pub fn delivery_counts(&self) -> DeliveryCounts {
        sum_counts(&self.producers)
    }

    /// What the consumers did with the messages they read so far, all together:
    /// handled, dead-lettered, skipped.
    pub fn consumer_counts(&self) -> ConsumerCounts {
        let mut total = ConsumerCounts::default();
        for c in &self.consumers {
            total += c.counts();
        }
        total
    }

    /// Shuts down: cancels background tasks (waiting up to the grace period), flushes
    /// every producer so that nothing queued is lost, runs the shutdown hook.
    pub async fn stop(mut self) -> Result<ShutdownReport> {
        self.stop_inner().await
    }

    async fn stop_inner(&mut self) -> Result<ShutdownReport> {
        let mut report = ShutdownReport::default();
        // Consumers first: stop fetching, finish or abandon what is in hand, commit it.
        let counters: Vec<_> = self
            .consumers
            .iter()
            .map(RunningConsumer::counters)
            .collect();
        let committed =
            futures::future::join_all(self.consumers.drain(..).map(RunningConsumer::stop)).await;
        for c in counters {
            report.consumed += c.snapshot();
        }
        // Under `fastkafka run`, the other workers' consumers are members of the same
        // groups: wait until every worker has committed before any leaves.
        if !committed.is_empty() {
            stop_barrier().await;
        }
        // Only now that every consumer has committed do they leave their groups: one
        // leaving first would start a rebalance that fails the others' final commits.
        // They leave side by side, each serving its own rebalance callbacks: one member
        // leaving rebalances the others, and a member left waiting while another closes
        // would make its own close wait for a rebalance nobody serves.
        futures::future::join_all(
            committed
                .into_iter()
                .flatten()
                .map(|c| tokio::task::spawn_blocking(move || c.close())),
        )
        .await;
        let deadline = Instant::now() + self.grace;
        for (name, handle) in &self.tasks {
            tracing::info!(task = name, "cancelling background task");
            handle.abort();
        }
        for (name, handle) in self.tasks.drain(..) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, handle).await {
                Ok(_) => tracing::info!(task = name, "background task stopped"),
                Err(_) => {
                    report.tasks_not_stopped += 1;
                    tracing::warn!(
                        task = name,
                        grace_ms = self.grace.as_millis() as u64,
                        "background task did not stop within the grace period; leaving it"
                    );
                }
            }
        }

        for spec in &self.specs {
            spec.slot.unbind();
        }
        for p in std::mem::take(&mut self.producers) {
            let timeout = self.flush_timeout;
            let flushed = Arc::clone(&p);
            let failed_before = p.stats.snapshot().failed;
            let left = tokio::task::spawn_blocking(move || flushed.flush(timeout))
                .await
                .unwrap_or(-1);
            let counts = p.stats.snapshot();
            report.failed_while_flushing += counts.failed.saturating_sub(failed_before);
            if left == 0 {
                tracing::info!(
                    broker = p.broker,
                    delivered = counts.delivered,
                    failed = counts.failed,
                    failed_unobserved = counts.failed_unobserved,
                    "producer flushed"
                );
            } else {
                report.undelivered += left.max(0) as u64;
                tracing::error!(
                    broker = p.broker,
                    in_flight = left,
                    timeout_ms = timeout.as_millis() as u64,
                    "producer could not deliver every queued message before the flush timeout"
                );
            }
            report.deliveries.delivered += counts.delivered;
            report.deliveries.failed += counts.failed;
            report.deliveries.failed_unobserved += counts.failed_unobserved;
        }

        if let Some(hook) = self.shutdown_hook.take() {
            tracing::info!("running the shutdown hook");
            hook().await.map_err(|source| Error::User {
                context: "the shutdown hook failed".into(),
                source,
            })?;
        }
        tracing::info!("app stopped");
        Ok(report)
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if !self.tasks.is_empty() || !self.producers.is_empty() || !self.consumers.is_empty() {
            // Dropping a consumer tells its poll thread to stop, commit and leave.
            self.consumers.clear();
            tracing::warn!(
                "RunningApp dropped without stop(); cancelling tasks and flushing producers"
            );
            for (_, handle) in self.tasks.drain(..) {
                handle.abort();
            }
            for spec in &self.specs {
                spec.slot.unbind();
            }
            for p in self.producers.drain(..) {
                let left = p.flush(Duration::from_secs(5));
                if left > 0 {
                    tracing::error!(
                        broker = p.broker,
                        in_flight = left,
                        "messages were not delivered before the app was dropped"
                    );
                }
            }
        }
        RUNNING.store(false, Ordering::SeqCst);
    }
}

fn sum_counts(producers: &[Arc<BrokerProducer>]) -> DeliveryCounts {
    producers
        .iter()
        .map(|p| p.stats.snapshot())
        .fold(DeliveryCounts::default(), |a, b| DeliveryCounts {
            delivered: a.delivered + b.delivered,
            failed: a.failed + b.failed,
            failed_unobserved: a.failed_unobserved + b.failed_unobserved,
        })
}
