//! Checks of what arrived on a topic: [`Tester::expect`], [`Tester::expect_nothing`].

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::read::Received;
use super::Tester;

impl Tester {
    /// Waits for the next message on `topic` and checks that it is `expected`;
    /// panics otherwise, saying what arrived instead (or that nothing did) and showing
    /// the app's recent log lines. Returns the message with where it landed.
    pub async fn expect<T>(&self, topic: &str, expected: &T) -> Received<T>
    where
        T: DeserializeOwned + PartialEq + fmt::Debug + 'static,
    {
        match self.next::<T>(topic).await {
            Ok(received) if received.message == *expected => received,
            Ok(received) => panic!(
                "{}",
                self.failure(format!(
                    "expected on `{topic}`: {expected:?}\n  arrived instead: {:?} (partition {}, offset {}, key {:?})",
                    received.message,
                    received.partition,
                    received.offset,
                    received.key_text()
                ))
            ),
            Err(failure) => panic!("expected on `{topic}`: {expected:?}\n{failure}"),
        }
    }

    /// Checks that nothing (more) arrives on `topic` within `wait`; panics with what
    /// did, or when the topic does not exist (a misspelt name must not pass).
    pub async fn expect_nothing(&self, topic: &str, wait: Duration) {
        let next = match self.next_raw_within(topic, wait).await {
            Ok(next) => next,
            // A topic that does not exist is a misspelt name, not "nothing".
            Err(failure) => panic!("expected nothing more on `{topic}`: {failure}"),
        };
        if let Some(raw) = next {
            panic!(
                "{}",
                self.failure(format!(
                    "expected nothing more on `{topic}`, but partition {} offset {} arrived: {}",
                    raw.partition,
                    raw.offset,
                    raw.payload_text()
                ))
            );
        }
    }
}
