//! librdkafka's logs and errors, without the flood.
//!
//! While a broker is unreachable, librdkafka reports the same connection failure many
//! times a second, from its log and its error callbacks, for every client. An app run
//! against a broker that is not there (the default `localhost:9092`, say) would print
//! dozens of identical lines a second. Here each distinct failure is logged once, then
//! at most once per [`REPEAT_EVERY`] with how many repeats were held back; everything
//! else passes through at its own level, as rdkafka's default context does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// How often a repeating failure is logged again.
pub(crate) const REPEAT_EVERY: Duration = Duration::from_secs(30);

/// The log of one librdkafka client (a producer or a consumer).
pub(crate) struct ClientLog {
    /// What the client is, for the log lines: `producer for broker localhost`...
    client: String,
    /// Repeating failures: when each was last logged, and how many since.
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl ClientLog {
    pub(crate) fn new(client: impl Into<String>) -> Self {
        ClientLog {
            client: client.into(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// librdkafka's error callback.
    pub(crate) fn error(&self, error: KafkaError, reason: &str) {
        use RDKafkaErrorCode as Code;
        let code = error.rdkafka_error_code();
        let (key, what) = match code {
            // One unreachable broker shows as a transport failure and as "1/1 brokers
            // are down" (or "0/1" a moment later): one failure, logged once.
            Some(Code::BrokerTransportFailure | Code::AllBrokersDown) => (
                "unreachable",
                "cannot reach the Kafka broker; librdkafka keeps retrying and queued messages wait (no broker there? `--kafka-broker embedded` runs one in-process)",
            ),
            Some(Code::Resolve) => (
                "resolve",
                "cannot resolve the broker's host name; check the address the app was given",
            ),
            Some(Code::Authentication) => (
                "authentication",
                "the broker refused the credentials; check the broker's security settings (Broker::security)",
            ),
            Some(Code::SSL) => (
                "tls",
                "the TLS handshake with the broker failed; check the broker's security settings (Broker::security)",
            ),
            _ => {
                tracing::error!(client = %self.client, "librdkafka: {error}: {reason}");
                return;
            }
        };
        if let Some(held_back) = self.due(key.to_string()) {
            tracing::warn!(client = %self.client, held_back, "{what}: {reason}");
        }
    }

    /// librdkafka's log callback.
    pub(crate) fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel::*;
        // A broker connection failing: the error callback reports the same, with the
        // same text, so the log line is only for debugging.
        let same_as_error = fac == "FAIL";
        if !same_as_error && matches!(level, Emerg | Alert | Critical | Error | Warning) {
            if let Some(held_back) = self.due(repeat_key(fac, message)) {
                match level {
                    Warning => {
                        tracing::warn!(target: "librdkafka", client = %self.client, held_back, "{fac} {message}")
                    }
                    _ => {
                        tracing::error!(target: "librdkafka", client = %self.client, held_back, "{fac} {message}")
                    }
                }
            }
            return;
        }
        match level {
            Notice | Info => {
                tracing::info!(target: "librdkafka", client = %self.client, "{fac} {message}")
            }
            _ => tracing::debug!(target: "librdkafka", client = %self.client, "{fac} {message}"),
        }
    }

    /// `Some(repeats held back since)` when a failure is to be logged now.
    fn due(&self, key: String) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(&key) {
            Some((last, held)) if now.duration_since(*last) < REPEAT_EVERY => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                let repeats = *held;
                *last = now;
                *held = 0;
                Some(repeats)
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// What makes two warnings "the same": the facility and the text without numbers, so
/// "(after 2ms in state CONNECT)" and "(after 0ms ..., 1 identical error(s)
/// suppressed)" count as one.
fn repeat_key(fac: &str, message: &str) -> String {
    let text = message.split(" (after ").next().unwrap_or(message);
    let mut key = String::with_capacity(fac.len() + 1 + text.len());
    key.push_str(fac);
    key.push(' ');
    key.extend(text.chars().filter(|c| !c.is_ascii_digit()));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_failure_is_logged_once_then_held_back() {
        let log = ClientLog::new("test");
        assert_eq!(log.due("a".into()), Some(0));
        assert_eq!(log.due("a".into()), None);
        assert_eq!(log.due("a".into()), None);
        assert_eq!(log.due("b".into()), Some(0), "a different failure is shown");
        // Once REPEAT_EVERY has passed, it shows again with the count held back.
        log.seen.lock().unwrap().get_mut("a").unwrap().0 -= REPEAT_EVERY;
        assert_eq!(log.due("a".into()), Some(2));
    }

    #[test]
    fn connection_failures_differing_only_in_timings_are_one() {
        let a = repeat_key(
            "FAIL",
            "localhost:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 2ms in state CONNECT)",
        );
        let b = repeat_key(
            "FAIL",
            "localhost:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT, 1 identical error(s) suppressed)",
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            repeat_key(
                "FAIL",
                "localhost:9092/bootstrap: SASL authentication error"
            )
        );
    }
}
