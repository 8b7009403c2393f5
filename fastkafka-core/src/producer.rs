//! Producing: one librdkafka producer per broker, shared by every `#[produces]` function.
//!
//! A call encodes the message, puts it on the producer's local queue and returns a
//! [`PendingDelivery`] at once; the broker's acknowledgement arrives later through it.
//! A loop of calls is therefore bound by encoding and queueing, not by broker latency.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::app::ResolvedBroker;
use crate::security::OAuthHook;
use tokio::sync::oneshot;

use crate::client_log::ClientLog;
use crate::error::{Error, Result};
use crate::event::{Delivery, KafkaEvent};
use crate::partition::KeylessStrategy;
use crate::routing::{PartitionerFn, Router};

/// A producer function, as `#[produces]` registers it. Not written by hand.
#[doc(hidden)]
pub struct ProducerSpec {
    /// The function's name.
    pub function: &'static str,
    /// The topic it writes to.
    pub topic: &'static str,
    /// The named broker it is pinned to; `None` follows `--kafka-broker`.
    pub broker: Option<&'static str>,
    /// `description = "..."`, else the function's doc comment.
    pub description: &'static str,
    /// Whether one call produces a batch (`Vec<T>`).
    pub batch: bool,
    /// Whether the function returns `KafkaEvent<..>`, so its messages may carry a key.
    pub keyed: bool,
    /// The message type's JSON schema.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The message type's Rust name, for the docs.
    pub message_type: &'static str,
    /// `partitioner = path`: a custom partitioner for this function.
    pub partitioner: Option<PartitionerFn>,
    /// The `partitioner` path as written, for the docs.
    pub partitioner_name: Option<&'static str>,
    /// `keyless = "..."`: the keyless strategy for this function.
    pub keyless: Option<KeylessStrategy>,
    /// Bound to a running producer while the app runs.
    pub slot: ProducerSlot,
}

/// Checks a `partitioner = path` argument's signature at the user's span.
#[doc(hidden)]
pub const fn custom_partitioner(f: PartitionerFn) -> Option<PartitionerFn> {
    Some(f)
}

/// A registered producer function.
#[doc(hidden)]
pub struct ProducerRef(pub &'static ProducerSpec);

inventory::collect!(ProducerRef);

/// Every `#[produces]` function linked into this binary.
pub(crate) fn registered() -> impl Iterator<Item = &'static ProducerSpec> {
    inventory::iter::<ProducerRef>.into_iter().map(|r| r.0)
}

/// Where a producer function sends while the app runs. Lock-free to read.
#[doc(hidden)]
pub struct ProducerSlot(ArcSwapOption<TopicBinding>);

impl ProducerSlot {
    /// An unbound slot.
    pub const fn new() -> Self {
        ProducerSlot(ArcSwapOption::const_empty())
    }

    pub(crate) fn bind(&self, binding: Arc<TopicBinding>) {
        self.0.store(Some(binding));
    }

    pub(crate) fn unbind(&self) {
        self.0.store(None);
    }
}

impl Default for ProducerSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// A producer function's topic on its broker's producer, and how it routes.
#[doc(hidden)]
pub struct TopicBinding {
    producer: Arc<BrokerProducer>,
    topic: Arc<str>,
    router: Router,
}

impl TopicBinding {
    pub(crate) fn new(producer: Arc<BrokerProducer>, topic: &str, router: Router) -> Self {
        TopicBinding {
            producer,
            topic: Arc::from(topic),
            router,
        }
    }
}

/// What the delivery callback hands back for one message.
type RawOutcome = std::result::Result<(i32, i64, Option<i64>), KafkaError>;
type DeliveryOpaque = Box<oneshot::Sender<RawOutcome>>;

/// Counts of what a producer delivered, for the runtime's shutdown report and tests.
#[derive(Debug, Default)]
pub struct ProducerStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    failed_unobserved: AtomicU64,
}

/// How many messages a producer delivered and how many failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Messages the broker acknowledged.
    pub delivered: u64,
    /// Messages that failed.
    pub failed: u64,
    /// Failed messages whose [`PendingDelivery`] had been dropped: nobody else saw
    /// these failures, so the runtime logged them.
    pub failed_unobserved: u64,
}

impl ProducerStats {
    /// The counts so far.
    pub fn snapshot(&self) -> DeliveryCounts {
        DeliveryCounts {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_unobserved: self.failed_unobserved.load(Ordering::Relaxed),
        }
    }
}

/// What the app's `on_delivery` hook sees for every message: where it landed, or why
/// it did not.
#[derive(Debug)]
pub struct DeliveryReport<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition (the one asked for, when delivery failed before one was chosen: -1).
    pub partition: i32,
    /// The offset in the partition; meaningful only when `error` is `None`.
    pub offset: i64,
    /// The message key.
    pub key: Option<&'a [u8]>,
    /// Why the message was not delivered, if it was not.
    pub error: Option<&'a KafkaError>,
}

/// The app's `on_delivery` hook.
pub(crate) type DeliveryHook = Arc<dyn Fn(&DeliveryReport<'_>) + Send + Sync>;

/// The librdkafka context: routes each delivery report to its [`PendingDelivery`].
pub(crate) struct DeliveryRouter {
    stats: Arc<ProducerStats>,
    hook: Option<DeliveryHook>,
    log: ClientLog,
    oauth: OAuthHook,
}

impl ClientContext for DeliveryRouter {
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

impl ProducerContext for DeliveryRouter {
    type DeliveryOpaque = DeliveryOpaque;

    fn delivery(&self, result: &DeliveryResult<'_>, tx: DeliveryOpaque) {
        if let Some(hook) = &self.hook {
            let report = match result {
                Ok(m) => DeliveryReport {
                    topic: m.topic(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key(),
                    error: None,
                },
                Err((e, m)) => DeliveryReport {
                    topic: m.topic(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key(),
                    error: Some(e),
                },
            };
            hook(&report);
        }
        let outcome = match result {
            Ok(msg) => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                Ok((msg.partition(), msg.offset(), msg.timestamp().to_millis()))
            }
            Err((err, _)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                Err(err.clone())
            }
        };
        if let Err(Err(err)) = tx.send(outcome) {
            // Nobody awaits this delivery any more: the failure must not vanish.
            self.stats.failed_unobserved.fetch_add(1, Ordering::Relaxed);
            let (topic, partition, key) = match result {
                Err((_, msg)) => (
                    msg.topic().to_string(),
                    msg.partition(),
                    msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                ),
                Ok(_) => unreachable!("only failures are sent as Err"),
            };
            tracing::error!(
                topic,
                partition,
                key,
                error = %err,
                "message was not delivered and its PendingDelivery had been dropped"
            );
        }
    }
}

/// One broker's producer, shared by every producer function sending to that broker.
pub(crate) struct BrokerProducer {
    pub(crate) broker: String,
    inner: ThreadedProducer<DeliveryRouter>,
    pub(crate) stats: Arc<ProducerStats>,
}

/// Producer defaults: idempotence (retries never duplicate or reorder) and the Java
/// client's partitioner, so keyed messages land where every other Kafka client puts them.
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("partitioner", "murmur2_random"),
];

impl BrokerProducer {
    /// Creates the producer for `target`: defaults, then the broker's properties,
    /// then the app's producer config, each overriding the one before. Refuses
    /// `transactional.id`; `acks` other than `all` turns idempotence off (see
    /// [`crate::security::check_producer`]).
    pub(crate) fn new(
        target: &ResolvedBroker,
        app_config: &[(String, String)],
        hook: Option<DeliveryHook>,
    ) -> Result<Self> {
        let broker = target.name.as_str();
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &target.bootstrap);
        for (k, v) in PRODUCER_DEFAULTS {
            config.set(*k, *v);
        }
        let mut idempotence_set_by_user = false;
        for (k, v) in target.properties.iter().chain(app_config) {
            idempotence_set_by_user |= k == "enable.idempotence";
            config.set(k, v);
        }
        for (k, v) in crate::security::check_producer(broker, &config, idempotence_set_by_user)? {
            config.set(k, v);
        }
        let stats = Arc::new(ProducerStats::default());
        let inner = config
            .create_with_context(DeliveryRouter {
                stats: Arc::clone(&stats),
                hook,
                log: ClientLog::new(format!("producer for broker {broker}")),
                oauth: target.oauth.clone(),
            })
            .map_err(|e| {
                Error::Config(format!(
                    "cannot create the producer for broker `{broker}`: {e}"
                ))
            })?;
        Ok(BrokerProducer {
            broker: broker.to_string(),
            inner,
            stats,
        })
    }

    /// Asks the broker for its metadata, to learn early whether it is reachable, then
    /// for each of `topics`: librdkafka learns a topic's partitions on its first
    /// message otherwise, which held that message for about half a second.
    pub(crate) fn probe(&self, timeout: Duration, topics: &[&str]) -> Result<()> {
        let client = self.inner.client();
        client.fetch_metadata(None, timeout).map_err(Error::from)?;
        for topic in topics {
            // A topic that does not exist yet is reported when a message is sent to it.
            let _ = client.fetch_metadata(Some(topic), timeout);
        }
        Ok(())
    }

    /// How many partitions `topic` has, asking the broker (blocking). A topic that does
    /// not exist yet is created by the request where the broker allows it; a new topic
    /// may need a moment before it has leaders, so this retries for a few seconds.
    pub(crate) fn partition_count(&self, topic: &str) -> Result<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let metadata = self
                .inner
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .map_err(|e| Error::Metadata {
                    topic: topic.to_string(),
                    reason: e.to_string(),
                })?;
            let found = metadata.topics().iter().find(|t| t.name() == topic);
            let problem = match found {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    return Ok(t.partitions().len() as i32)
                }
                Some(t) => t.error().map_or("it has no partitions".to_string(), |e| {
                    format!(
                        "the broker says {}",
                        rdkafka::error::RDKafkaErrorCode::from(e)
                    )
                }),
                None => "the broker does not know it".to_string(),
            };
            if std::time::Instant::now() >= deadline {
                return Err(Error::Metadata {
                    topic: topic.to_string(),
                    reason: format!("{problem}; create the topic or declare it with FastKafka::builder().topic(..)"),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every queued message was acknowledged or failed; returns how many
    /// are still in flight when `timeout` ran out.
    pub(crate) fn flush(&self, timeout: Duration) -> i32 {
        match self.inner.flush(timeout) {
            Ok(()) => 0,
            Err(_) => self.inner.in_flight_count(),
        }
    }
}

/// Queues one encoded message on the producer bound to `spec`. Called by `#[produces]`.
#[doc(hidden)]
pub async fn produce(
    spec: &'static ProducerSpec,
    event: KafkaEvent<Vec<u8>>,
) -> Result<PendingDelivery> {
    let binding = spec.slot.0.load_full().ok_or(Error::NotRunning {
        function: spec.function,
    })?;
    send_event(&binding, event).await
}

/// Queues a batch, one message per element, in order. Called by `#[produces]`.
///
/// Stops at the first message that cannot be queued; the ones before it stay queued
/// and their deliveries are still reported (and logged if they fail).
#[doc(hidden)]
pub async fn produce_batch(
    spec: &'static ProducerSpec,
    events: Vec<KafkaEvent<Vec<u8>>>,
) -> Result<Vec<PendingDelivery>> {
    let binding = spec.slot.0.load_full().ok_or(Error::NotRunning {
        function: spec.function,
    })?;
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        pending.push(send_event(&binding, event).await?);
    }
    Ok(pending)
}

/// Longest pause between two attempts to queue a message while the local queue is full.
const QUEUE_FULL_MAX_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) async fn send_event(
    binding: &TopicBinding,
    event: KafkaEvent<Vec<u8>>,
) -> Result<PendingDelivery> {
    let partition = binding
        .router
        .choose(
            &binding.producer,
            &binding.topic,
            event.key.as_deref(),
            event.partition,
        )
        .await?;
    let (tx, rx) = oneshot::channel();
    let headers = (!event.headers.is_empty()).then(|| {
        event.headers.iter().fold(
            OwnedHeaders::new_with_capacity(event.headers.len()),
            |h, (name, value)| {
                h.insert(Header {
                    key: name,
                    value: Some(value),
                })
            },
        )
    });
    let mut record: BaseRecord<'_, [u8], [u8], DeliveryOpaque> =
        BaseRecord::with_opaque_to(&binding.topic, Box::new(tx)).payload(&event.message[..]);
    if let Some(key) = &event.key {
        record = record.key(&key[..]);
    }
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    if let Some(ts) = event.timestamp {
        record = record.timestamp(ts);
    }
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    let mut backoff = Duration::from_millis(1);
    loop {
        match binding.producer.inner.send(record) {
            Ok(()) => {
                return Ok(PendingDelivery {
                    rx,
                    topic: Arc::clone(&binding.topic),
                })
            }
            // A full local queue is back-pressure: wait for deliveries to make room.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(QUEUE_FULL_MAX_BACKOFF);
            }
            Err((source, _)) => {
                return Err(Error::Enqueue {
                    topic: binding.topic.to_string(),
                    source,
                })
            }
        }
    }
}

/// A queued message's delivery report, still to come: await it for the [`Delivery`]
/// (topic, partition, offset) or the reason it failed.
///
/// Dropping it is allowed (fire and forget); a failure is then logged and counted by
/// the runtime instead of being returned.
#[derive(Debug)]
pub struct PendingDelivery {
    rx: oneshot::Receiver<RawOutcome>,
    topic: Arc<str>,
}

impl PendingDelivery {
    /// The topic the message was queued for.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Future for PendingDelivery {
    type Output = Result<Delivery>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = std::task::ready!(Pin::new(&mut self.rx).poll(cx));
        let topic = Arc::clone(&self.topic);
        Poll::Ready(match outcome {
            Ok(Ok((partition, offset, timestamp))) => Ok(Delivery {
                topic,
                partition,
                offset,
                timestamp,
            }),
            Ok(Err(source)) => Err(Error::Delivery {
                topic: topic.to_string(),
                source,
            }),
            Err(_) => Err(Error::DeliveryLost {
                topic: topic.to_string(),
            }),
        })
    }
}
