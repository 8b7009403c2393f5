//! One broker's producer, shared by every producer function sending to that broker,
//! and the delivery reports librdkafka hands back for its messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tokio::sync::oneshot;

use super::routing::PartitionCounts;
use crate::client::{ClientLog, ResolvedBroker};
use crate::error::{Error, Result};
use crate::event::{DeliveryHook, DeliveryReport};
use crate::security::OAuthHook;
use crate::tracking::Outputs;

/// What the delivery callback hands back for one message.
pub(super) type RawOutcome = std::result::Result<(i32, i64, Option<i64>), KafkaError>;

/// What travels with a record through librdkafka: where its delivery report goes.
pub(crate) struct Opaque {
    /// To the caller's [`PendingDelivery`](crate::PendingDelivery); taken when sent.
    pub(super) tx: Option<oneshot::Sender<RawOutcome>>,
    /// The outputs of the consumer input it was produced for, if any.
    pub(super) tracker: Option<Arc<Outputs>>,
    pub(super) topic: Arc<str>,
}

pub(crate) type DeliveryOpaque = Box<Opaque>;

impl Opaque {
    /// Settles the record with its consumer input, if it has one.
    pub(super) fn settle(&mut self, outcome: std::result::Result<(), &Error>) {
        if let Some(tracker) = self.tracker.take() {
            tracker.settle(outcome);
        }
    }
}

impl Drop for Opaque {
    /// A record dropped without a delivery report (the producer was destroyed with it
    /// still queued) is a failed output: its input must not be committed.
    fn drop(&mut self) {
        let topic = self.topic.to_string();
        self.settle(Err(&Error::DeliveryLost { topic }));
    }
}

/// Counts of what a producer delivered, for the runtime's shutdown report and tests.
#[derive(Debug, Default)]
pub(crate) struct ProducerStats {
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
    /// Failed messages whose [`PendingDelivery`](crate::PendingDelivery) had been dropped: nobody else saw
    /// these failures, so the runtime logged them.
    pub failed_unobserved: u64,
}

impl ProducerStats {
    /// The counts so far.
    pub(crate) fn snapshot(&self) -> DeliveryCounts {
        DeliveryCounts {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_unobserved: self.failed_unobserved.load(Ordering::Relaxed),
        }
    }
}

/// The librdkafka context: routes each delivery report to its [`PendingDelivery`].
pub(crate) struct DeliveryRouter {
    stats: Arc<ProducerStats>,
    hook: Option<DeliveryHook>,
    log: ClientLog,
    oauth: OAuthHook,
}

crate::client::logged_client_context!(DeliveryRouter);

impl ProducerContext for DeliveryRouter {
    type DeliveryOpaque = DeliveryOpaque;

    fn delivery(&self, result: &DeliveryResult<'_>, mut opaque: DeliveryOpaque) {
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
                opaque.settle(Ok(()));
                Ok((msg.partition(), msg.offset(), msg.timestamp().to_millis()))
            }
            Err((err, _)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                Err(err.clone())
            }
        };
        // A failure of an output its consumer input waits for fails that input, which
        // reports it: observed even if the caller dropped its PendingDelivery.
        let tracked = opaque.tracker.is_some();
        if let Err(err) = &outcome {
            let topic = opaque.topic.to_string();
            opaque.settle(Err(&Error::Delivery {
                topic,
                source: err.clone(),
            }));
        }
        let Some(tx) = opaque.tx.take() else {
            return;
        };
        let unobserved = match tx.send(outcome) {
            Err(Err(err)) if !tracked => Some(err),
            _ => None,
        };
        if let Some(err) = unobserved {
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
    pub(super) inner: ThreadedProducer<DeliveryRouter>,
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
            .map_err(|source| Error::Client {
                what: format!("producer for broker `{broker}`"),
                source,
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

    /// Waits until every queued message was acknowledged or failed; returns how many
    /// are still in flight when `timeout` ran out.
    pub(crate) fn flush(&self, timeout: Duration) -> i32 {
        match self.inner.flush(timeout) {
            Ok(()) => 0,
            Err(_) => self.inner.in_flight_count(),
        }
    }
}

impl PartitionCounts for BrokerProducer {
    /// How many partitions `topic` has, asking the broker (blocking). A topic that does
    /// not exist yet is created by the request where the broker allows it; a new topic
    /// may need a moment before it has leaders, so this retries for a few seconds.
    fn partition_count(&self, topic: &str) -> Result<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let metadata = self
                .inner
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .map_err(|e| Error::Metadata {
                    topic: topic.to_string(),
                    reason: e.to_string(),
                    source: Some(Box::new(e)),
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
                    source: None,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
