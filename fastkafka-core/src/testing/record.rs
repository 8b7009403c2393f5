//! What a [`Tester`](super::Tester) records of its app: every message a producer
//! function sent and every message a consumer function received.

use std::any::Any;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::sync::LockUnpoisoned;

/// One message a function of the app under test sent (a `#[produces]` function) or
/// received (a `#[consumes]` function), as the [`Tester`](super::Tester) recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The function.
    pub function: &'static str,
    /// Whether the function sent the message or received it.
    pub kind: CallKind,
    /// The topic it sent to or read from.
    pub topic: String,
    /// The record key, if any.
    pub key: Option<Vec<u8>>,
    /// The partition: pinned or chosen when sent, read from when received.
    pub partition: Option<i32>,
    /// The record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The payload, encoded.
    pub payload: Vec<u8>,
}

/// Whether a [`Call`] is a message sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Queued by a `#[produces]` function.
    Sent,
    /// Received by a `#[consumes]` function (recorded before decoding: a message that
    /// did not decode is one too).
    Received,
}

impl Call {
    /// The message, decoded as the framework decodes it for a `#[consumes]` function
    /// taking `T`: `String` and `Vec<u8>` as they are, anything else from JSON.
    pub fn message<T: DeserializeOwned + 'static>(&self) -> Result<T, String> {
        decode::<T>(&self.payload)
    }

    /// The key as UTF-8 text (lossy).
    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }

    /// One line for failure messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} {} topic `{}`{}{}: {}",
            self.function,
            match self.kind {
                CallKind::Received => "read from",
                CallKind::Sent => "sent to",
            },
            self.topic,
            self.partition
                .map(|p| format!(" partition {p}"))
                .unwrap_or_default(),
            self.key_text()
                .map(|k| format!(" key {k:?}"))
                .unwrap_or_default(),
            String::from_utf8_lossy(&self.payload)
        )
    }
}

/// Where a Tester's app reports what its functions sent and received.
#[derive(Default)]
pub(crate) struct Recorder {
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    pub(crate) fn record(&self, call: Call) {
        self.calls.lock_unpoisoned().push(call);
    }

    /// The calls of `function`, in order.
    pub(crate) fn calls_of(&self, function: &str) -> Vec<Call> {
        self.calls
            .lock_unpoisoned()
            .iter()
            .filter(|c| c.function == function)
            .cloned()
            .collect()
    }

    /// Every call, in order.
    pub(crate) fn all(&self) -> Vec<Call> {
        self.calls.lock_unpoisoned().clone()
    }
}

/// Encodes `message` as a `#[produces]` function returning `T` would: `String` and
/// `Vec<u8>` as they are, anything else as JSON.
pub(crate) fn encode<T: Serialize + 'static>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let any = message as &dyn Any;
    if let Some(s) = any.downcast_ref::<String>() {
        return Ok(s.as_bytes().to_vec());
    }
    if let Some(s) = any.downcast_ref::<&str>() {
        return Ok(s.as_bytes().to_vec());
    }
    if let Some(b) = any.downcast_ref::<Vec<u8>>() {
        return Ok(b.clone());
    }
    serde_json::to_vec(message)
}

/// Decodes `payload` as a `#[consumes]` function taking `T` would.
pub(crate) fn decode<T: DeserializeOwned + 'static>(payload: &[u8]) -> Result<T, String> {
    use std::any::TypeId;
    let raw: Option<Box<dyn Any>> = if TypeId::of::<T>() == TypeId::of::<String>() {
        Some(Box::new(
            String::from_utf8(payload.to_vec()).map_err(|e| format!("not UTF-8: {e}"))?,
        ))
    } else if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        Some(Box::new(payload.to_vec()))
    } else {
        None
    };
    match raw {
        Some(value) => value
            .downcast::<T>()
            .map(|v| *v)
            .map_err(|_| "type mismatch".to_string()),
        None => serde_json::from_slice(payload).map_err(|e| {
            format!(
                "not a JSON `{}`: {e}",
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("?")
            )
        }),
    }
}
