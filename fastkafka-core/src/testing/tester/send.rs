//! Sending to the app's topics as another service would.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use serde::Serialize;

use super::Tester;
use crate::error::{Error, Result};
use crate::event::{Delivery, KafkaEvent};
use crate::producer::fill_record;
use crate::testing::record::encode;

impl Tester {
    /// Sends `message` to `topic` as another service would (a plain producer, not the
    /// app's), with no key, and waits until the broker has it. The message is encoded
    /// as a `#[produces]` function would encode it: `String` and `Vec<u8>` as they
    /// are, anything else as JSON. [`Tester::send_event`] gives a key, a partition or
    /// headers.
    pub async fn send<T: Serialize + 'static>(&self, topic: &str, message: T) -> Result<Delivery> {
        self.send_event(topic, KafkaEvent::new(message)).await
    }

    /// Sends `event` (a message with a key, a pinned partition, headers) to `topic`, as
    /// [`Tester::send`] does.
    pub async fn send_event<T: Serialize + 'static>(
        &self,
        topic: &str,
        event: KafkaEvent<T>,
    ) -> Result<Delivery> {
        let payload = encode(&event.message).map_err(|source| Error::Encode {
            topic: topic.to_string(),
            source,
        })?;
        self.send_bytes(topic, event.map(|_| payload)).await
    }

    /// Sends bytes to `topic` as they are, for messages the app cannot decode: a
    /// `Vec<u8>`, or a `KafkaEvent<Vec<u8>>` with a key, partition or headers.
    pub async fn send_raw(
        &self,
        topic: &str,
        event: impl Into<KafkaEvent<Vec<u8>>>,
    ) -> Result<Delivery> {
        self.send_bytes(topic, event.into()).await
    }

    async fn send_bytes(&self, topic: &str, event: KafkaEvent<Vec<u8>>) -> Result<Delivery> {
        let record = fill_record(
            FutureRecord::<[u8], [u8]>::to(topic),
            &event,
            event.partition,
        );
        match self.producer.send(record, Duration::from_secs(10)).await {
            Ok(delivery) => Ok(Delivery {
                topic: Arc::from(topic),
                partition: delivery.partition,
                offset: delivery.offset,
                timestamp: None,
            }),
            Err((source, _)) => Err(Error::Delivery {
                topic: topic.to_string(),
                source,
            }),
        }
    }
}
