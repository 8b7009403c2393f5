//! What a producer function returns (a typed message with its key, partition and
//! headers), and what comes back for it: its delivery, and the report the app's
//! `on_delivery` hook sees.

/// A message of type `T` with the Kafka record's metadata: key, pinned partition,
/// headers and timestamp.
///
/// Return it from a `#[produces]` function when the message needs a key or anything
/// else beyond its payload. The AsyncAPI docs show `T`, never the wrapper.
///
/// ```
/// use fastkafka::KafkaEvent;
///
/// let event = KafkaEvent::new("Hello world!".to_string())
///     .key(b"my_key")
///     .header("trace-id", "abc123");
/// assert_eq!(event.key_bytes(), Some(&b"my_key"[..]));
/// assert_eq!(event.partition, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaEvent<T> {
    /// The message itself.
    pub message: T,
    /// The record key; `None` sends a keyless message.
    pub key: Option<Vec<u8>>,
    /// A pinned partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Record headers, in order; names may repeat.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Record timestamp in milliseconds since the Unix epoch; `None` uses the send time.
    pub timestamp: Option<i64>,
}

impl<T> KafkaEvent<T> {
    /// Wraps a message with no key, no pinned partition and no headers.
    pub fn new(message: T) -> Self {
        KafkaEvent {
            message,
            key: None,
            partition: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key: `b"bytes"`, `&[u8]`, `Vec<u8>`, `&str` or `String`.
    ///
    /// Messages with the same key go to the same partition: murmur2 of the key, as the
    /// Java client places it, unless the message is pinned with [`partition`](Self::partition)
    /// or the producer has a custom partitioner (`#[produces(partitioner = ..)]`), which
    /// is given the key instead.
    pub fn key(mut self, key: impl IntoBytes) -> Self {
        self.key = Some(key.into_bytes());
        self
    }

    /// Pins the message to partition `partition` of its topic.
    ///
    /// A partition the topic does not have is an error returned by the producer
    /// function, and nothing is sent.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header; call it again to add more. The value is bytes or text
    /// ([`IntoBytes`]): `"hot"`, `n.to_string()`, `b"\x01"`, a `Vec<u8>`.
    ///
    /// To document a header in the app's AsyncAPI document, declare it on the function:
    /// `#[produces(header(name = "reason", description = "..", enum = ["hot", "cold"]))]`.
    pub fn header(mut self, name: impl Into<String>, value: impl IntoBytes) -> Self {
        self.headers.push((name.into(), value.into_bytes()));
        self
    }

    /// Sets the record timestamp in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// The key as bytes, if there is one.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// Replaces the message with a fallible function, keeping the record metadata.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<KafkaEvent<U>, E> {
        Ok(KafkaEvent {
            message: f(self.message)?,
            key: self.key,
            partition: self.partition,
            headers: self.headers,
            timestamp: self.timestamp,
        })
    }

    /// Replaces the message, keeping key, partition, headers and timestamp.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> KafkaEvent<U> {
        KafkaEvent {
            message: f(self.message),
            key: self.key,
            partition: self.partition,
            headers: self.headers,
            timestamp: self.timestamp,
        }
    }
}

impl<T> From<T> for KafkaEvent<T> {
    fn from(message: T) -> Self {
        KafkaEvent::new(message)
    }
}

/// Byte strings usable as a key or header value: `&[u8]`, `&[u8; N]`, `Vec<u8>`,
/// `&str` and `String`. Owned values are moved, not copied.
///
/// Anything else is turned into bytes first: a number with `.to_string()`, a JSON
/// value with `serde_json::to_vec(&value)?`.
///
/// ```
/// use fastkafka::{IntoBytes, KafkaEvent};
///
/// assert_eq!("abc".into_bytes(), b"abc");
/// let event = KafkaEvent::new(()).header("attempt", 3.to_string());
/// assert_eq!(event.headers[0].1, b"3");
/// ```
#[diagnostic::on_unimplemented(
    message = "a Kafka key or header value is bytes or text, not `{Self}`",
    label = "not bytes or text",
    note = "pass `&str`, `String`, `&[u8]`, `&[u8; N]` or `Vec<u8>`: for a number, `n.to_string()`; for a JSON value, `serde_json::to_vec(&value)?`"
)]
pub trait IntoBytes {
    /// The bytes.
    fn into_bytes(self) -> Vec<u8>;
}

/// The former name of [`IntoBytes`]: its errors read as if a header value were a key.
/// Anything that is `IntoBytes` is `IntoKey`, with the old method name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `IntoBytes`: it takes header values as well as keys"
)]
pub trait IntoKey: IntoBytes + Sized {
    /// The bytes, as [`IntoBytes::into_bytes`].
    fn into_key(self) -> Vec<u8> {
        self.into_bytes()
    }
}

#[allow(deprecated)]
impl<T: IntoBytes> IntoKey for T {}

impl IntoBytes for Vec<u8> {
    fn into_bytes(self) -> Vec<u8> {
        self
    }
}

impl IntoBytes for String {
    fn into_bytes(self) -> Vec<u8> {
        String::into_bytes(self)
    }
}

impl IntoBytes for &[u8] {
    fn into_bytes(self) -> Vec<u8> {
        self.to_vec()
    }
}

impl<const N: usize> IntoBytes for &[u8; N] {
    fn into_bytes(self) -> Vec<u8> {
        self.to_vec()
    }
}

impl IntoBytes for &str {
    fn into_bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl IntoBytes for &String {
    fn into_bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl IntoBytes for &Vec<u8> {
    fn into_bytes(self) -> Vec<u8> {
        self.clone()
    }
}

/// Where a message landed: the broker's acknowledgement of one produced message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The topic.
    pub topic: std::sync::Arc<str>,
    /// The partition the message was written to.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The record timestamp (milliseconds since the Unix epoch), when the broker reports one.
    pub timestamp: Option<i64>,
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
    pub error: Option<&'a rdkafka::error::KafkaError>,
}

/// The app's `on_delivery` hook.
pub(crate) type DeliveryHook = std::sync::Arc<dyn Fn(&DeliveryReport<'_>) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_accepted_kind_become_the_same_bytes() {
        let from = |e: KafkaEvent<()>| e.key.unwrap();
        assert_eq!(from(KafkaEvent::new(()).key(b"k1")), b"k1");
        assert_eq!(from(KafkaEvent::new(()).key(&b"k1"[..])), b"k1");
        assert_eq!(from(KafkaEvent::new(()).key(b"k1".to_vec())), b"k1");
        assert_eq!(from(KafkaEvent::new(()).key("k1")), b"k1");
        assert_eq!(from(KafkaEvent::new(()).key("k1".to_string())), b"k1");
    }

    #[test]
    #[allow(deprecated)]
    fn the_former_name_into_key_still_works() {
        use crate::IntoKey;
        fn old_style(key: impl IntoKey) -> Vec<u8> {
            key.into_key()
        }
        assert_eq!(old_style("k1"), b"k1");
        assert_eq!(old_style(b"k1".to_vec()), b"k1");
    }

    #[test]
    fn map_keeps_the_record_metadata() {
        let e = KafkaEvent::new(1)
            .key("k")
            .partition(2)
            .header("h", "v")
            .timestamp(7)
            .map(|n| n + 1);
        assert_eq!(e.message, 2);
        assert_eq!(e.key_bytes(), Some(&b"k"[..]));
        assert_eq!(e.partition, Some(2));
        assert_eq!(e.headers, vec![("h".to_string(), b"v".to_vec())]);
        assert_eq!(e.timestamp, Some(7));
    }
}
