//! Building an app: [`FastKafkaBuilder`].

use std::future::Future;
use std::time::Duration;

use super::{Broker, Contact, FastKafka, Hook};
use crate::consumer::{HookEntry, RebalanceHook, ASSIGNED_HOOK, REVOKED_HOOK};
use crate::error::BoxError;
use crate::event::DeliveryReport;
use crate::partition::{KeylessStrategy, PartitionerFn};
use crate::state::{LifespanHook, StateBuilder};

/// Builds a [`FastKafka`] app.
pub struct FastKafkaBuilder {
    pub(super) app: FastKafka,
}

impl FastKafkaBuilder {
    /// The app's title (AsyncAPI `info.title`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.app.info.title = title.into();
        self
    }

    /// The app's version (AsyncAPI `info.version`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.app.info.version = version.into();
        self
    }

    /// The app's description (AsyncAPI `info.description`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.app.info.description = description.into();
        self
    }

    /// Who to contact about the app.
    pub fn contact(mut self, contact: Contact) -> Self {
        self.app.info.contact = Some(contact);
        self
    }

    /// Names a broker; `fastkafka run --kafka-broker NAME` picks it at run time.
    /// Adding a name twice replaces the first.
    pub fn broker(mut self, name: impl Into<String>, broker: Broker) -> Self {
        let name = name.into();
        self.app.brokers.retain(|(n, _)| *n != name);
        self.app.brokers.push((name, broker));
        self
    }

    /// The broker used when none is given on the command line (default: `localhost`).
    pub fn default_broker(mut self, name: impl Into<String>) -> Self {
        self.app.default_broker = Some(name.into());
        self
    }

    /// Sets a librdkafka producer property for every producer of the app, e.g.
    /// `("linger.ms", "5")` or `("acks", "all")`. See librdkafka's CONFIGURATION.md.
    pub fn producer_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.producer_config.push((key.into(), value.into()));
        self
    }

    /// The consumer group of the app's consumers (default: derived from the title).
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.app.group_id = Some(group_id.into());
        self
    }

    /// Sets a librdkafka consumer property for every consumer of the app.
    pub fn consumer_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.consumer_config.push((key.into(), value.into()));
        self
    }

    /// Runs `hook` once at start, once the producers are ready and the states built
    /// ([`FastKafkaBuilder::state_with`]), before consumers and background tasks start
    /// (FastKafka's `lifespan`, first half): it can send with producer functions, and
    /// prepare what the handlers need. It may take the app's [`State`](crate::State)s
    /// as arguments. An error stops the app from starting.
    ///
    /// ```
    /// use fastkafka::prelude::*;
    ///
    /// #[produces]
    /// async fn to_status(text: String) -> String { text }
    ///
    /// let app = FastKafka::builder()
    ///     .on_startup(|| async { to_status("up".into()).await.map(|_| ()) })
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn on_startup<Args, H: LifespanHook<Args>>(mut self, hook: H) -> Self {
        self.app.startup = Some(Hook::new(H::needs(), hook.into_run("the startup hook")));
        self
    }

    /// Runs `hook` once at the end, after background tasks stopped and producers
    /// were flushed (FastKafka's `lifespan`, second half). It may take the app's
    /// [`State`](crate::State)s as arguments, e.g. to close a pool.
    pub fn on_shutdown<Args, H: LifespanHook<Args>>(mut self, hook: H) -> Self {
        self.app.shutdown = Some(Hook::new(H::needs(), hook.into_run("the shutdown hook")));
        self
    }

    /// Calls `hook` with a consumer's partitions each time its group assigns it some,
    /// before any of their messages reaches the handler: to load what the app keeps
    /// per partition (balances, counters) from where it was saved, because a
    /// [`State`](crate::State) lives in this process's memory only and a rebalance
    /// moves partitions without it. The hook takes a [`RebalanceEvent`](crate::RebalanceEvent)
    /// (function, topic, group, partitions), then up to three `State<T>`s; it can send
    /// with producer functions. One hook for all the app's consumers: match on
    /// `event.function` (or `event.topic`) to tell them apart.
    ///
    /// It runs on the consumer's poll thread inside the rebalance, in the app's tokio
    /// runtime, for at most [`rebalance_hook_timeout`](Self::rebalance_hook_timeout).
    /// If it fails, panics or overruns, the error is logged (hook, function, partitions)
    /// and the partitions are consumed regardless: nothing is lost or skipped, but the
    /// handlers then run without what the hook should have loaded. A handler that must
    /// not can check for it (see `docs/consumers.md`, "State and rebalances").
    ///
    /// ```
    /// use fastkafka::prelude::*;
    /// use fastkafka::RebalanceEvent;
    ///
    /// let app = FastKafka::builder()
    ///     .on_partitions_assigned(|event: RebalanceEvent| async move {
    ///         println!("{} now reads partitions {:?} of {}", event.function, event.partitions, event.topic);
    ///     })
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn on_partitions_assigned<Args, H: RebalanceHook<Args>>(mut self, hook: H) -> Self {
        self.app.rebalance.assigned = Some(HookEntry::new(hook, ASSIGNED_HOOK));
        self
    }

    /// Calls `hook` with a consumer's partitions before its group takes them back:
    /// once their handlers finished (or were abandoned after
    /// [`shutdown_grace`](Self::shutdown_grace)) and their progress was committed, and
    /// before they are handed over to another member; also when the app stops, as its
    /// consumers leave their groups. To save what the app keeps for those partitions
    /// and forget it. It takes what [`on_partitions_assigned`](Self::on_partitions_assigned)
    /// takes and runs the same way; a failure is logged and the partitions are handed
    /// over regardless.
    ///
    /// ```
    /// use fastkafka::prelude::*;
    /// use fastkafka::RebalanceEvent;
    ///
    /// let app = FastKafka::builder()
    ///     .on_partitions_revoked(|event: RebalanceEvent| async move {
    ///         println!("{} hands over partitions {:?}", event.function, event.partitions);
    ///     })
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn on_partitions_revoked<Args, H: RebalanceHook<Args>>(mut self, hook: H) -> Self {
        self.app.rebalance.revoked = Some(HookEntry::new(hook, REVOKED_HOOK));
        self
    }

    /// How long a rebalance hook may run before it is cancelled (default 30 s). While
    /// it runs, the consumer polls nothing and, for a revoke, the whole group waits for
    /// it: it must stay well below the consumers' `max.poll.interval.ms` (300 s by
    /// default), past which librdkafka drops the consumer from its group; the app
    /// refuses to start otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = fastkafka::FastKafka::builder()
    ///     .rebalance_hook_timeout(Duration::from_secs(10))
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn rebalance_hook_timeout(mut self, timeout: Duration) -> Self {
        self.app.rebalance.timeout = timeout;
        self
    }

    /// Gives the app a value its functions take as a [`State<T>`](crate::State)
    /// argument: a configuration, a client, a pool, a counter. One value per type
    /// (a second of the same type replaces the first); any number of types. It lives
    /// in this process's memory only (see [`State`](crate::State)): per-partition
    /// state that must survive restarts and rebalances is rebuilt in
    /// [`on_partitions_assigned`](Self::on_partitions_assigned).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use fastkafka::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Handled(AtomicU64);
    ///
    /// #[consumes]
    /// async fn on_orders(order: String, handled: State<Handled>) {
    ///     handled.0.fetch_add(1, Ordering::Relaxed);
    ///     let _ = order;
    /// }
    ///
    /// let app = FastKafka::builder().state(Handled::default()).build();
    /// # let _ = app;
    /// ```
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.app.states.insert(std::sync::Arc::new(value));
        self
    }

    /// Builds a state at start, as the app's producers are ready and before the
    /// startup hook, consumers and background tasks: e.g. open a database pool or a
    /// client that needs the network. It can send with producer functions. An error
    /// stops the app from starting, naming the state's type.
    ///
    /// ```
    /// use fastkafka::prelude::*;
    ///
    /// struct Pool { url: String }
    ///
    /// #[consumes]
    /// async fn on_orders(order: String, pool: State<Pool>) {
    ///     println!("storing {order} in {}", pool.url);
    /// }
    ///
    /// let app = FastKafka::builder()
    ///     .state_with(|| async { Ok::<_, std::io::Error>(Pool { url: "postgres://db".into() }) })
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn state_with<T, F, Fut, E>(mut self, build: F) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.app.state_builders.push(StateBuilder::new(build));
        self
    }

    /// How long background tasks get to finish after SIGINT/SIGTERM (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.app.shutdown_grace = grace;
        self
    }

    /// How long shutdown waits for queued messages to be acknowledged (default 30 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.app.flush_timeout = timeout;
        self
    }

    /// How long the app waits at start for its broker to answer, when it has topics
    /// to check or create. By default it waits as long as it takes, saying once that
    /// the broker cannot be reached and then every 30 s, as producers do: an app
    /// started before its broker (a supervisor, a compose file, a reboot) comes up
    /// when the broker does. With a timeout, the start fails after it with
    /// [`Error::Startup`](crate::Error::Startup) naming the broker.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = fastkafka::FastKafka::builder()
    ///     .topic("orders", 6)
    ///     .startup_timeout(Duration::from_secs(60))
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.app.startup_timeout = Some(timeout);
        self
    }

    /// Declares a topic the app needs, with its partition count. At start, a declared
    /// topic that does not exist yet is created (on a real broker with the replication
    /// factor set with [`FastKafkaBuilder::replication_factor`], else the broker's
    /// default); one that exists is left as it is.
    ///
    /// Without a declaration, a topic is created on first use with the broker's
    /// default partition count (3 on the embedded broker), if the broker allows it.
    /// Dead-letter topics are created at start like declared ones (see
    /// [`FastKafka::topics_to_create`]); declare one to choose its partition count.
    pub fn topic(mut self, name: impl Into<String>, partitions: i32) -> Self {
        let name = name.into();
        self.app.topics.retain(|(n, _)| *n != name);
        self.app.topics.push((name, partitions));
        self
    }

    /// The replication factor of every topic the app creates at start (the declared
    /// topics and the dead-letter topics, see [`FastKafka::topics_to_create`]): how many
    /// brokers keep a copy of each partition. Without it, the broker's
    /// `default.replication.factor` applies (1 unless the cluster sets it).
    ///
    /// In production, 3 with the topic's `min.insync.replicas` at 2 (the app produces
    /// with `acks=all`) keeps every acknowledged message through the loss of one broker
    /// (see `docs/production.md`). A cluster with fewer brokers than this refuses to
    /// create the topic and the app stops at start, saying so; a topic that exists is
    /// left as it is. The embedded broker is a single broker and ignores it.
    ///
    /// ```
    /// use fastkafka::prelude::*;
    ///
    /// let app = FastKafka::builder()
    ///     .topic("orders", 6)
    ///     .replication_factor(3)
    ///     .build();
    /// assert_eq!(app.replication_factor(), Some(3));
    /// ```
    pub fn replication_factor(mut self, replicas: i32) -> Self {
        self.app.replication_factor = Some(replicas);
        self
    }

    /// A custom partitioner for every producer function of the app that does not name
    /// its own (`#[produces(partitioner = path)]`). A result outside
    /// `0..partition_count` is an error returned to the caller; nothing is sent.
    pub fn partitioner(mut self, partitioner: PartitionerFn) -> Self {
        self.app.partitioner = Some(partitioner);
        self
    }

    /// Where keyless messages go, for every producer function that does not choose
    /// (`#[produces(keyless = "round_robin")]`). Default: [`KeylessStrategy::Sticky`].
    pub fn keyless_strategy(mut self, strategy: KeylessStrategy) -> Self {
        self.app.keyless = strategy;
        self
    }

    /// Calls `hook` with every message's delivery report, delivered or failed, on the
    /// producer's delivery thread: keep it short (log, count), never block in it.
    ///
    /// ```
    /// let app = fastkafka::FastKafka::builder()
    ///     .on_delivery(|report| match report.error {
    ///         None => println!("Produced record to topic {} partition [{}] @ offset {}",
    ///             report.topic, report.partition, report.offset),
    ///         Some(e) => println!("Failed to deliver message: {e}"),
    ///     })
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn on_delivery(
        mut self,
        hook: impl Fn(&DeliveryReport<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.app.on_delivery = Some(std::sync::Arc::new(hook));
        self
    }

    /// Makes the app out of these functions only, by name: `#[produces]`, `#[consumes]`
    /// and `#[run_in_background]` functions of the binary (by default an app has all of
    /// them). Two apps of one binary can so differ, and run side by side in one process,
    /// each with its own broker. A name the binary does not have stops the start with
    /// an error listing the ones it has.
    ///
    /// ```
    /// use fastkafka::FastKafka;
    ///
    /// let orders = FastKafka::builder()
    ///     .title("Orders")
    ///     .only(["on_orders", "to_confirmations"])
    ///     .build();
    /// # let _ = orders;
    /// ```
    pub fn only<I, S>(mut self, functions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.app.only = Some(functions.into_iter().map(Into::into).collect());
        self
    }

    /// Makes the app out of the functions declared in module `path` and its submodules
    /// (with those named by [`FastKafkaBuilder::only`], if any): pass
    /// `module_path!()` to keep an app to its own file, so that it can be compiled into
    /// one binary with other apps (a test binary, say) and still have only its own
    /// functions.
    ///
    /// ```
    /// let app = fastkafka::FastKafka::builder()
    ///     .include_module(module_path!())
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn include_module(mut self, path: impl Into<String>) -> Self {
        self.app.modules.push(path.into());
        self
    }

    /// Finishes the app.
    pub fn build(self) -> FastKafka {
        self.app
    }
}
