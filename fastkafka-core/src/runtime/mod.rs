//! The runtime of one app: start, run, shut down cleanly.
//!
//! Start: resolve the broker, check the connection, create the topics, producers (one
//! per broker), the lifespan startup hook, consumers, background tasks.
//! Stop (SIGINT/SIGTERM or [`RunningApp::stop`]): consumers finish what they hold and
//! commit, every worker passes the stop barrier, consumers leave their groups,
//! background tasks are cancelled within the grace period, producers are unbound and
//! flushed so nothing queued is lost, the lifespan shutdown hook runs.
//!
//! The started app and its stop (`running`), signals (`signals`) and the two-phase
//! stop of `fastkafka run`'s workers (`stop_barrier`) live beside this file.

mod running;
mod signals;
mod stop_barrier;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::running::{RunningApp, ShutdownReport};
use self::signals::exit_on_second_signal;
pub use self::signals::shutdown_signal;
use crate::app::FastKafka;
use crate::background;
use crate::calls::Recorder;
use crate::client::ResolvedBroker;
use crate::consumer::{ConsumerSetup, ConsumerSpec, RunningConsumer};
use crate::context::{AppContext, ContextSetup};
use crate::error::{Error, Result};
use crate::partition::KeylessStrategy;
use crate::producer::{BrokerProducer, ProducerSpec, Router, TopicBinding};

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

/// How [`FastKafka::start_with`] starts an app, beyond its broker: the defaults for
/// [`FastKafka::start`], and what a [`Tester`](crate::testing::Tester) changes.
pub(crate) struct StartOptions {
    /// Records what the app's functions send and receive.
    pub(crate) recorder: Option<Arc<Recorder>>,
    /// The span every task of the app runs in.
    pub(crate) span: tracing::Span,
    /// Whether the app takes the process-wide slots of its functions (a Tester's apps
    /// do not: tests run side by side, each calls its own app through `scope`).
    pub(crate) take_slots: bool,
    /// Whether the app's background tasks run.
    pub(crate) background: bool,
    /// Appended to the app's consumer groups (a Tester on a shared broker), so that
    /// each run starts from what is new.
    pub(crate) group_suffix: Option<String>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            recorder: None,
            span: tracing::Span::none(),
            take_slots: true,
            background: true,
            group_suffix: None,
        }
    }
}

impl FastKafka {
    /// Runs the app against `broker` until SIGINT or SIGTERM, then shuts down cleanly.
    ///
    /// `broker` is what `--kafka-broker` takes: a broker the app names, `embedded`,
    /// `localhost`, or a `HOST:PORT` bootstrap address.
    pub async fn run(self, broker: &str) -> Result<()> {
        self.run_with(broker, StartOptions::default()).await
    }

    /// [`run`](Self::run), with `options` where `APP run` needs other than the defaults.
    pub(crate) async fn run_with(self, broker: &str, options: StartOptions) -> Result<()> {
        self.run_until_with(broker, options, async {
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
        self.run_until_with(broker, StartOptions::default(), stop)
            .await
    }

    async fn run_until_with(
        self,
        broker: &str,
        options: StartOptions,
        stop: impl Future<Output = ()>,
    ) -> Result<()> {
        let running = self.start_with(broker, options).await?;
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
    ///
    /// Several apps can run in one process at once, each with its own broker and
    /// functions ([`FastKafkaBuilder::only`](crate::FastKafkaBuilder::only)): a producer
    /// function called from one of an app's tasks sends through that app. Called from
    /// elsewhere (a test's own code, a task spawned with `tokio::spawn`), it sends
    /// through the first running app that has the function, or through the app given
    /// to [`RunningApp::scope`].
    pub async fn start(self, broker: &str) -> Result<RunningApp> {
        self.start_with(broker, StartOptions::default()).await
    }

    /// [`start`](Self::start), with `options` where a Tester needs other than the
    /// defaults.
    pub(crate) async fn start_with(
        mut self,
        broker: &str,
        options: StartOptions,
    ) -> Result<RunningApp> {
        self.check_functions()?;
        self.check_states()?;
        let StartOptions {
            recorder,
            span,
            take_slots,
            background,
            group_suffix,
        } = options;
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

        let reach = crate::client::check(&resolved, self.startup_timeout).await?;
        crate::topics::ensure(
            &resolved,
            &self.topics_to_create(),
            self.replication_factor,
            self.startup_timeout,
        )
        .await?;
        let (producers, bindings) = self.start_producers(&resolved, recorder.as_ref())?;
        // Against a broker the check could not reach (and has warned about), the probe
        // would only wait its timeout out and warn again.
        let probed = if reach == crate::client::Reach::Answered {
            &producers[..]
        } else {
            &[]
        };
        for p in probed {
            let p = Arc::clone(p);
            let topics: Vec<&'static str> = bindings
                .iter()
                .filter(|(s, _)| s.broker.unwrap_or(&resolved.name) == p.broker)
                .map(|(s, _)| s.topic)
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

        let app = AppContext::new(
            bindings,
            ContextSetup {
                states: std::mem::take(&mut self.states),
                take_slots,
                recorder,
                span,
            },
        );
        // After the producers, so that the states' builders and the hook can send;
        // before the consumers and background tasks, so that what they prepare is
        // there for them.
        let started = self.prepare(&app).await;
        let consumers = match started.and_then(|()| {
            self.start_consumers(&resolved, &producers, &app, group_suffix.as_deref())
        }) {
            Ok(c) => c,
            Err(e) => {
                app.unbind();
                // What the startup hook sent is not lost with the producers.
                let (producers, timeout) = (producers, self.flush_timeout);
                let _ = tokio::task::spawn_blocking(move || {
                    for p in producers {
                        p.flush(timeout);
                    }
                })
                .await;
                return Err(e);
            }
        };

        let tasks = if background {
            self.background_tasks()
                .map(|task| {
                    let supervised = app.scope(background::supervise(task));
                    (task.name, tokio::spawn(supervised))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(RunningApp {
            bootstrap: resolved.bootstrap.clone(),
            _broker: resolved,
            producers,
            app,
            consumers,
            tasks,
            shutdown_hook: self.shutdown.take(),
            grace: self.shutdown_grace,
            flush_timeout: self.flush_timeout,
            functions: self
                .producers()
                .map(|s| s.function)
                .chain(self.consumers().map(|s| s.function))
                .chain(self.background_tasks().map(|s| s.name))
                .collect(),
        })
    }

    /// Builds the app's states ([`FastKafkaBuilder::state_with`]) and runs its startup
    /// hook, as tasks of `app`.
    ///
    /// [`FastKafkaBuilder::state_with`]: crate::FastKafkaBuilder::state_with
    async fn prepare(&mut self, app: &Arc<AppContext>) -> Result<()> {
        for builder in std::mem::take(&mut self.state_builders) {
            let name = builder.provides.name;
            tracing::info!(state = name, "building state");
            let states = app
                .scope(builder.build())
                .await
                .map_err(|source| Error::User {
                    context: format!("building the state `{name}` failed"),
                    source,
                })?;
            app.add_state(states);
        }
        if let Some(hook) = self.startup.take() {
            tracing::info!("running the startup hook");
            app.scope(hook.call()).await.map_err(|source| Error::User {
                context: "the startup hook failed".into(),
                source,
            })?;
        }
        Ok(())
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
            Some(name) if name != run_broker.name => {
                self.resolve_broker(name).map(Some).map_err(|e| match e {
                    Error::UnknownBroker { name, known, .. } => Error::UnknownBroker {
                        name,
                        known,
                        needed_by: Some(who()),
                    },
                    Error::Config(_) => Error::Config(format!("{}: {e}", who())),
                    // The embedded broker's failures say what they are.
                    other => other,
                })
            }
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
        app: &Arc<AppContext>,
        group_suffix: Option<&str>,
    ) -> Result<Vec<RunningConsumer>> {
        let specs: Vec<&'static ConsumerSpec> = self.consumers().collect();
        let app_group = self.group_id();
        let mut seen: Vec<(&str, String, &str)> = Vec::new();
        let mut running = Vec::new();
        let mut extra_producers: Vec<Arc<BrokerProducer>> = Vec::new();
        let hooks = Arc::new(self.rebalance.clone());
        for spec in specs {
            let group_id = spec
                .group_id
                .map_or_else(|| app_group.clone(), str::to_string);
            let group_id = match group_suffix {
                Some(suffix) => format!("{group_id}-{suffix}"),
                None => group_id,
            };
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
            let connection =
                std::iter::once(("bootstrap.servers".to_string(), target.bootstrap.clone()))
                    .chain(target.properties.iter().cloned())
                    .collect();
            running.push(RunningConsumer::start(ConsumerSetup {
                spec,
                group_id,
                bootstrap: target.bootstrap.clone(),
                properties,
                oauth: target.oauth.clone(),
                dead_letter,
                grace: self.shutdown_grace,
                app: Arc::clone(app),
                hooks: Arc::clone(&hooks),
                connection,
            })?);
        }
        Ok(running)
    }

    /// One producer per broker that one of the app's producer functions sends to; each
    /// function bound to its producer.
    #[allow(clippy::type_complexity)]
    fn start_producers(
        &self,
        run_broker: &ResolvedBroker,
        recorder: Option<&Arc<Recorder>>,
    ) -> Result<(
        Vec<Arc<BrokerProducer>>,
        Vec<(&'static ProducerSpec, Arc<TopicBinding>)>,
    )> {
        let mut producers: Vec<Arc<BrokerProducer>> = Vec::new();
        let mut bindings = Vec::new();
        for spec in self.producers() {
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
            bindings.push((
                spec,
                Arc::new(
                    TopicBinding::new(producer, spec.topic, router).recorded_by(recorder.cloned()),
                ),
            ));
            tracing::info!(
                function = spec.function,
                topic = spec.topic,
                broker = target.name,
                "producer ready"
            );
        }
        Ok((producers, bindings))
    }
}
