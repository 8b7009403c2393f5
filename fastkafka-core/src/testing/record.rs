//! The test side of what a [`Tester`](super::Tester) records of its app
//! ([`Call`], kept by the runtime's `calls.rs`): decoding a call's message, describing
//! it in a failure, and the codec rule a Tester sends and reads with.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::calls::{Call, CallKind};

impl Call {
    /// The message, decoded as the framework decodes it for a `#[consumes]` function
    /// taking `T`: `String` and `Vec<u8>` as they are, anything else from JSON.
    pub fn message<T: DeserializeOwned + 'static>(&self) -> Result<T, String> {
        decode::<T>(&self.payload)
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
