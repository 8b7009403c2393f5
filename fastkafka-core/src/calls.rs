//! What the functions of a running app sent and received, recorded when someone asks:
//! a [`Tester`](crate::testing::Tester) gives its app a [`Recorder`] (through the
//! runtime's start options), and the producer and consumer paths add a [`Call`] to it.
//! The runtime's side of testing, so that the runtime need not know the test module;
//! `fastkafka::testing` re-exports [`Call`] and [`CallKind`].

use std::sync::Mutex;

use crate::sync::LockUnpoisoned;

/// One message a function of the app under test sent (a `#[produces]` function) or
/// received (a `#[consumes]` function), as the [`Tester`](crate::testing::Tester) recorded it.
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
    /// The key as UTF-8 text (lossy).
    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
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
