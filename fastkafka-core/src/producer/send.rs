//! Sending: a call's encoded message becomes a record on its broker's producer queue,
//! and a [`PendingDelivery`] for the broker's acknowledgement.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::BaseRecord;
use tokio::sync::oneshot;

use super::broker::{DeliveryOpaque, Opaque, RawOutcome};
use super::record;
use super::{ProducerSpec, TopicBinding};
use crate::backoff::Backoff;
use crate::context::AppContext;
use crate::error::{Error, Result};
use crate::event::{Delivery, KafkaEvent};
use crate::tracking::Outputs;

/// Queues one encoded message on the producer bound to `spec`. Called by `#[produces]`.
#[doc(hidden)]
pub async fn produce(
    spec: &'static ProducerSpec,
    event: KafkaEvent<Vec<u8>>,
) -> Result<PendingDelivery> {
    let sent = match binding_of(spec) {
        Ok(binding) => send_event(&binding, event).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &sent {
        // Not queued: the input being handled, if any, must not count as processed.
        Outputs::fail_current(e);
    }
    sent
}

/// Where `spec` sends: the current app's producer in an app's task, else the
/// process-wide slot.
fn binding_of(spec: &'static ProducerSpec) -> Result<Arc<TopicBinding>> {
    match AppContext::current_binding(spec) {
        Some(binding) => binding,
        None => spec.slot.0.load_full().ok_or(Error::NotRunning {
            function: spec.function,
        }),
    }
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
    let binding = binding_of(spec).inspect_err(Outputs::fail_current)?;
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        pending.push(
            send_event(&binding, event)
                .await
                .inspect_err(Outputs::fail_current)?,
        );
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
    // Under a Tester: what to record once the message is queued.
    let call = binding.recorder.as_ref().map(|_| crate::calls::Call {
        function: binding.router.function(),
        kind: crate::calls::CallKind::Sent,
        topic: binding.topic.to_string(),
        key: event.key.clone(),
        partition,
        headers: event.headers.clone(),
        payload: event.message.clone(),
    });
    let (tx, rx) = oneshot::channel();
    // Produced while a consumer handles an input: that input waits for this message.
    let tracker = Outputs::current();
    if let Some(t) = &tracker {
        t.add();
    }
    let opaque = Box::new(Opaque {
        tx: Some(tx),
        tracker,
        topic: Arc::clone(&binding.topic),
    });
    let mut record: BaseRecord<'_, [u8], [u8], DeliveryOpaque> = record::fill(
        BaseRecord::with_opaque_to(&binding.topic, opaque),
        &event,
        partition,
    );
    let mut backoff = Backoff::new(Duration::from_millis(1), QUEUE_FULL_MAX_BACKOFF);
    loop {
        match binding.producer.inner.send(record) {
            Ok(()) => {
                if let (Some(recorder), Some(call)) = (&binding.recorder, call) {
                    recorder.record(call);
                }
                return Ok(PendingDelivery {
                    rx,
                    topic: Arc::clone(&binding.topic),
                });
            }
            // A full local queue is back-pressure: wait for deliveries to make room.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                backoff.wait().await;
            }
            Err((source, mut returned)) => {
                // Not queued: its input fails too, even if the handler ignores this.
                let error = Error::Enqueue {
                    topic: binding.topic.to_string(),
                    source,
                };
                returned.delivery_opaque.settle(Err(&error));
                return Err(error);
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
