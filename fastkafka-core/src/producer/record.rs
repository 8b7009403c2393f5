//! The one place a [`KafkaEvent`] becomes a librdkafka record: payload, key,
//! partition, timestamp and headers. The producer's `BaseRecord` and the Tester's
//! `FutureRecord` are both filled here, so that a Tester sends what a `#[produces]`
//! function would.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, FutureRecord};
use rdkafka::util::IntoOpaque;

use crate::event::KafkaEvent;

/// A record under construction: rdkafka's two record types, which have the same
/// builder methods but no trait for them.
pub(crate) trait Record<'a>: Sized {
    fn with_payload(self, payload: &'a [u8]) -> Self;
    fn with_key(self, key: &'a [u8]) -> Self;
    fn with_partition(self, partition: i32) -> Self;
    fn with_timestamp(self, timestamp: i64) -> Self;
    fn with_headers(self, headers: OwnedHeaders) -> Self;
}

/// `record` (already addressed to its topic) with `event`'s payload, key, timestamp
/// and headers, and `partition`: the one chosen for it, which may differ from
/// `event.partition` (see `Router::choose`). No headers are set when `event` has none.
pub(crate) fn fill<'a, R: Record<'a>>(
    record: R,
    event: &'a KafkaEvent<Vec<u8>>,
    partition: Option<i32>,
) -> R {
    let mut record = record.with_payload(&event.message);
    if let Some(key) = &event.key {
        record = record.with_key(key);
    }
    if let Some(partition) = partition {
        record = record.with_partition(partition);
    }
    if let Some(ts) = event.timestamp {
        record = record.with_timestamp(ts);
    }
    if !event.headers.is_empty() {
        let headers = event.headers.iter().fold(
            OwnedHeaders::new_with_capacity(event.headers.len()),
            |h, (name, value)| {
                h.insert(Header {
                    key: name,
                    value: Some(value),
                })
            },
        );
        record = record.with_headers(headers);
    }
    record
}

/// `Record` for a record type, by its own builder methods of the same names.
macro_rules! record_builder {
    () => {
        fn with_payload(self, payload: &'a [u8]) -> Self {
            self.payload(payload)
        }
        fn with_key(self, key: &'a [u8]) -> Self {
            self.key(key)
        }
        fn with_partition(self, partition: i32) -> Self {
            self.partition(partition)
        }
        fn with_timestamp(self, timestamp: i64) -> Self {
            self.timestamp(timestamp)
        }
        fn with_headers(self, headers: OwnedHeaders) -> Self {
            self.headers(headers)
        }
    };
}

impl<'a, D: IntoOpaque> Record<'a> for BaseRecord<'a, [u8], [u8], D> {
    record_builder!();
}

impl<'a> Record<'a> for FutureRecord<'a, [u8], [u8]> {
    record_builder!();
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers;
    use rdkafka::producer::FutureRecord;

    use super::fill;
    use crate::event::KafkaEvent;

    #[test]
    fn an_event_fills_every_field_of_its_record() {
        let event = KafkaEvent::new(b"payload".to_vec())
            .key("k")
            .partition(1)
            .header("h", "v")
            .timestamp(42);
        let record = fill(FutureRecord::<[u8], [u8]>::to("t"), &event, Some(3));
        assert_eq!(record.payload, Some(&b"payload"[..]));
        assert_eq!(record.key, Some(&b"k"[..]));
        assert_eq!(
            record.partition,
            Some(3),
            "the chosen partition, not the event's"
        );
        assert_eq!(record.timestamp, Some(42));
        let headers = record.headers.expect("headers");
        assert_eq!(headers.count(), 1);
        assert_eq!(headers.get(0).key, "h");
        assert_eq!(headers.get(0).value, Some(&b"v"[..]));
    }

    #[test]
    fn an_event_without_headers_sets_none() {
        let event = KafkaEvent::new(Vec::new());
        let record = fill(FutureRecord::<[u8], [u8]>::to("t"), &event, None);
        assert!(record.headers.is_none());
        assert!(record.key.is_none());
        assert!(record.partition.is_none());
    }
}
