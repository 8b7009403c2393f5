//! A started app: what it reports while it runs, and its clean stop (consumers commit,
//! every worker passes the stop barrier, consumers leave their groups, background tasks
//! are cancelled within the grace period, producers flush, the shutdown hook runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::stop_barrier::stop_barrier;
use crate::app::Hook;
use crate::client::ResolvedBroker;
use crate::consumer::{ConsumerCounts, RunningConsumer};
use crate::context::AppContext;
use crate::error::{Error, Result};
use crate::producer::{BrokerProducer, DeliveryCounts};

/// A started app. Stop it with [`RunningApp::stop`]; dropping it instead cancels its
/// background tasks and flushes its producers for at most five seconds (blocking).
pub struct RunningApp {
    pub(super) bootstrap: String,
    // Keeps the embedded broker (if any) alive while the app runs.
    pub(super) _broker: ResolvedBroker,
    pub(super) producers: Vec<Arc<BrokerProducer>>,
    /// The app's producer functions, bound to `producers`.
    pub(super) app: Arc<AppContext>,
    pub(super) consumers: Vec<RunningConsumer>,
    pub(super) tasks: Vec<(&'static str, JoinHandle<()>)>,
    pub(super) shutdown_hook: Option<Hook>,
    pub(super) grace: Duration,
    pub(super) flush_timeout: Duration,
    /// The names of the app's functions.
    pub(super) functions: Vec<&'static str>,
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

    /// Runs `task` as a task of this app: a producer function called in it sends
    /// through this app's producers. For code outside the app (a test, say) when
    /// several apps run in the process; with one app it sends there anyway.
    ///
    /// ```no_run
    /// # use fastkafka::prelude::*;
    /// # #[produces] async fn to_orders(id: u64) -> u64 { id }
    /// # async fn demo(a: fastkafka::FastKafka, b: fastkafka::FastKafka) -> fastkafka::Result<()> {
    /// let first = a.start("embedded").await?;
    /// let second = b.start("embedded").await?;
    /// // To the second app's broker, though the first holds the process-wide slots:
    /// second.scope(async { to_orders(1).await?.await }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn scope<F: std::future::Future>(&self, task: F) -> F::Output {
        self.app.scope(task).await
    }

    /// The app's state of type `T` ([`State`](crate::State)), given to the builder or
    /// built at start; `None` if it has none.
    ///
    /// ```no_run
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # #[derive(Default)] struct Handled(AtomicU64);
    /// # async fn demo(app: fastkafka::FastKafka) -> fastkafka::Result<()> {
    /// let running = app.start("embedded").await?;
    /// let handled = running.state::<Handled>().expect("given to the builder");
    /// println!("{} handled so far", handled.0.load(Ordering::Relaxed));
    /// # Ok(()) }
    /// ```
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<crate::State<T>> {
        self.app.state::<T>().map(crate::State::from)
    }

    /// The librdkafka properties of the broker the app runs against (security), for
    /// clients of a Tester's own.
    pub(crate) fn client_properties(&self) -> Vec<(String, String)> {
        self._broker.properties.clone()
    }

    /// The names of the app's `#[produces]`, `#[consumes]` and `#[run_in_background]`
    /// functions.
    pub(crate) fn functions(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.functions.iter().copied()
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

        self.app.unbind();
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
            self.app
                .scope(hook.call())
                .await
                .map_err(|source| Error::User {
                    context: "the shutdown hook failed".into(),
                    source,
                })?;
        }
        tracing::info!("app stopped");
        Ok(report)
    }
}

/// How long an app's embedded broker outlives the app when it is dropped without stop.
const EMBEDDED_BROKER_LINGER: Duration = Duration::from_secs(3);

impl Drop for RunningApp {
    fn drop(&mut self) {
        if !self.tasks.is_empty() || !self.producers.is_empty() || !self.consumers.is_empty() {
            // Dropping a consumer tells its poll thread to stop, commit and leave.
            let closing = !self.consumers.is_empty();
            self.consumers.clear();
            if let (true, Some(broker)) = (closing, self._broker.embedded.take()) {
                // An embedded broker of this app outlives it briefly, so that its
                // consumers leave cleanly rather than log a refused connection each
                // (a failed test's output would end with them).
                std::thread::spawn(move || {
                    std::thread::sleep(EMBEDDED_BROKER_LINGER);
                    drop(broker);
                });
            }
            tracing::warn!(
                "RunningApp dropped without stop(); cancelling tasks and flushing producers"
            );
            for (_, handle) in self.tasks.drain(..) {
                handle.abort();
            }
            self.app.unbind();
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
        // Also for an app with nothing to stop: its slots go back.
        self.app.unbind();
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
