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

use crate::sync::LockUnpoisoned;

/// How often a repeating failure is logged again.
pub(crate) const REPEAT_EVERY: Duration = Duration::from_secs(30);

/// The log of one librdkafka client (a producer or a consumer).
pub(crate) struct ClientLog {
    /// What the client is, for the log lines: `producer for broker localhost`...
    client: String,
    /// Repeating failures: when each was last logged, and how many since.
    seen: Mutex<HashMap<String, (Instant, u64)>>,
    /// The first failure that retrying cannot fix (see [`REFUSALS`]), as one line.
    refused: Mutex<Option<String>>,
    /// Records failures without logging them (the connection check, whose finding
    /// becomes the app's error).
    quiet: bool,
}

/// The [`Failure::Connection`] keys that no retry fixes: the broker refused the
/// credentials, the TLS handshake, the SASL handshake or mechanism, or the client's
/// security protocol does not match the port.
const REFUSALS: &[&str] = &[
    "protocol",
    "credentials",
    "sasl-handshake",
    "sasl-mechanism",
    "sasl-setup",
    "sasl",
    "tls",
];

impl ClientLog {
    pub(crate) fn new(client: impl Into<String>) -> Self {
        ClientLog {
            client: client.into(),
            seen: Mutex::new(HashMap::new()),
            refused: Mutex::new(None),
            quiet: false,
        }
    }

    /// A log that records failures, for [`ClientLog::refused`], and logs nothing.
    pub(crate) fn quiet(client: impl Into<String>) -> Self {
        ClientLog {
            quiet: true,
            ..ClientLog::new(client)
        }
    }

    /// The first failure no retry can fix, if there was one: what it means, then
    /// librdkafka's reason (which names the broker's address).
    pub(crate) fn refused(&self) -> Option<String> {
        self.refused.lock_unpoisoned().clone()
    }

    /// librdkafka's error callback.
    pub(crate) fn error(&self, error: KafkaError, reason: &str) {
        if self.quiet {
            if let Some(code) = error.rdkafka_error_code() {
                if let Failure::Connection { key, what } = describe(code, reason) {
                    if REFUSALS.contains(&key) {
                        let mut refused = self.refused.lock_unpoisoned();
                        refused.get_or_insert_with(|| format!("{what}: {reason}"));
                    }
                }
            }
            return;
        }
        let Some(code) = error.rdkafka_error_code() else {
            tracing::error!(client = %self.client, "librdkafka: {error}: {reason}");
            return;
        };
        match describe(code, reason) {
            Failure::Connection { key, what } => {
                if let Some(held_back) = self.due(key.to_string()) {
                    tracing::warn!(client = %self.client, held_back, "{what}: {reason}");
                }
            }
            Failure::AllBrokersDown => {
                // The consequence of a failure logged just before (unreachable, refused,
                // TLS...), which says more; alone, it is worth one line of its own.
                if !self.logged_recently(CONNECTION_KEYS) {
                    if let Some(held_back) = self.due("all-down".to_string()) {
                        tracing::warn!(client = %self.client, held_back, "{ALL_BROKERS_DOWN}");
                    }
                }
            }
            Failure::Other => {
                tracing::error!(client = %self.client, "librdkafka: {error}: {reason}");
            }
        }
    }

    /// librdkafka's log callback.
    pub(crate) fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel::*;
        if self.quiet {
            return tracing::debug!(target: "librdkafka", client = %self.client, "{fac} {message}");
        }
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

    /// Whether a failure under one of `keys` was logged within [`REPEAT_EVERY`].
    fn logged_recently(&self, keys: &[&str]) -> bool {
        let seen = self.seen.lock_unpoisoned();
        keys.iter().any(|key| {
            seen.get(*key)
                .is_some_and(|(last, _)| last.elapsed() < REPEAT_EVERY)
        })
    }

    /// `Some(repeats held back since)` when a failure is to be logged now.
    fn due(&self, key: String) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock_unpoisoned();
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

/// What a failure reported by librdkafka's error callback means.
#[derive(Debug, PartialEq)]
enum Failure {
    /// A broker connection failed: logged once per `key` and [`REPEAT_EVERY`], as
    /// `what`, then librdkafka's reason (which names the broker).
    Connection {
        key: &'static str,
        what: &'static str,
    },
    /// No broker connection is up. librdkafka says "N/M brokers are down", whose N is
    /// not always the number that are down ("0/1 brokers are down"): not repeated.
    AllBrokersDown,
    /// Anything else: logged as librdkafka says it.
    Other,
}

/// The keys of [`Failure::Connection`].
const CONNECTION_KEYS: &[&str] = &[
    "unreachable",
    "protocol",
    "resolve",
    "credentials",
    "sasl-handshake",
    "sasl-mechanism",
    "sasl-setup",
    "sasl",
    "tls",
];

const ALL_BROKERS_DOWN: &str =
    "no connection to any Kafka broker is up; librdkafka keeps retrying and queued messages wait";

/// Sorts a failure by its code and, for the codes librdkafka uses for several causes,
/// by its reason.
fn describe(code: RDKafkaErrorCode, reason: &str) -> Failure {
    use RDKafkaErrorCode as Code;
    let says = |text: &str| {
        reason
            .to_ascii_lowercase()
            .contains(&text.to_ascii_lowercase())
    };
    let (key, what) = match code {
        // librdkafka's hints for a connection closed at the first request or just after:
        // the broker is there, but speaks TLS or SASL and the client does not.
        Code::BrokerTransportFailure if says("security.protocol") => (
            "protocol",
            "the broker closed the connection: the client's security.protocol does not match this listener (plaintext against a TLS or SASL port?); check the broker's security settings (Broker::security) and the port",
        ),
        Code::BrokerTransportFailure => (
            "unreachable",
            "cannot reach the Kafka broker; librdkafka keeps retrying and queued messages wait (no broker there? `--kafka-broker embedded` runs one in-process)",
        ),
        Code::AllBrokersDown => return Failure::AllBrokersDown,
        Code::Resolve => (
            "resolve",
            "cannot resolve the broker's host name; check the address the app was given",
        ),
        // What the broker answers when the username or password is wrong.
        Code::Authentication
            if says("invalid credentials") || says("invalid username or password") || says("authentication failed") =>
        {
            (
                "credentials",
                "the broker refused the credentials; check the username and password (Broker::security)",
            )
        }
        // A listener without SASL answers the SASL handshake with "not valid in the
        // current SASL state": the client uses SASL where the broker does not.
        Code::Authentication if says("handshake failed") && says("SASL state") => (
            "sasl-handshake",
            "the broker's listener does not do SASL at this address (it refused the SASL handshake): the client's security.protocol does not match it; check the broker's security settings (Broker::security) and the port",
        ),
        Code::Authentication if says("unsupported sasl mechanism") => (
            "sasl-mechanism",
            "the broker does not offer the client's SASL mechanism (sasl.mechanism); use one of the mechanisms it lists",
        ),
        Code::Authentication if says("failed to initialize sasl") => (
            "sasl-setup",
            "the client cannot start SASL authentication; check sasl.mechanism and the SASL settings (Broker::security)",
        ),
        Code::Authentication => (
            "sasl",
            "SASL authentication with the broker failed; check the broker's security settings (Broker::security) and the port",
        ),
        Code::SSL => (
            "tls",
            "the TLS handshake with the broker failed (a plaintext port, or a certificate the client does not trust?); check the broker's security settings (Broker::security) and the port",
        ),
        _ => return Failure::Other,
    };
    Failure::Connection { key, what }
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

    /// The line a failure is logged as, if it is logged on its own.
    fn line(code: RDKafkaErrorCode, reason: &str) -> Option<String> {
        match describe(code, reason) {
            Failure::Connection { what, .. } => Some(format!("{what}: {reason}")),
            Failure::AllBrokersDown => Some(ALL_BROKERS_DOWN.to_string()),
            Failure::Other => None,
        }
    }

    #[test]
    fn all_brokers_down_does_not_repeat_librdkafkas_count() {
        // librdkafka's count can say that none is down when it reports them all down.
        let line = line(RDKafkaErrorCode::AllBrokersDown, "0/1 brokers are down").unwrap();
        assert!(!line.contains("0/1"), "{line}");
        assert!(
            line.contains("no connection to any Kafka broker is up"),
            "{line}"
        );
        // And it is not a line of its own after the failure that caused it.
        let log = ClientLog::new("test");
        log.due("credentials".into());
        assert!(log.logged_recently(CONNECTION_KEYS));
        assert!(!ClientLog::new("test").logged_recently(CONNECTION_KEYS));
    }

    #[test]
    fn only_refused_credentials_are_called_refused_credentials() {
        use RDKafkaErrorCode::Authentication;
        let refused = [
            "sasl_ssl://kafka:9094/1: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 12ms in state AUTH_REQ)",
            "sasl_plaintext://kafka:9095/1: SASL authentication error: Authentication failed: Invalid username or password (after 3ms in state AUTH_REQ)",
        ];
        for reason in refused {
            let line = line(Authentication, reason).unwrap();
            assert!(
                line.starts_with("the broker refused the credentials"),
                "{line}"
            );
        }
        // SASL against a PLAINTEXT listener: a protocol mismatch, not a wrong password.
        let mismatch = "sasl_plaintext://kafka:9092/bootstrap: SASL PLAIN mechanism handshake failed: Broker: Request not valid in current SASL state: broker's supported mechanisms:  (after 2ms in state AUTH_HANDSHAKE)";
        let line_ = line(Authentication, mismatch).unwrap();
        assert!(!line_.contains("refused the credentials"), "{line_}");
        assert!(
            line_.contains("does not do SASL at this address"),
            "{line_}"
        );
        let mechanism = "sasl_ssl://kafka:9094/bootstrap: SASL SCRAM-SHA-256 mechanism handshake failed: Broker: Unsupported SASL mechanism: broker's supported mechanisms: PLAIN,SCRAM-SHA-512 (after 4ms in state AUTH_HANDSHAKE)";
        let line_ = line(Authentication, mechanism).unwrap();
        assert!(!line_.contains("refused the credentials"), "{line_}");
        assert!(line_.contains("SASL mechanism"), "{line_}");
        // A plaintext client on a TLS listener: the broker is reachable.
        let tls_port = "kafka:9093/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10 (see api.version.request) (after 1ms in state APIVERSION_QUERY)";
        let line_ = line(RDKafkaErrorCode::BrokerTransportFailure, tls_port).unwrap();
        assert!(!line_.contains("cannot reach"), "{line_}");
        assert!(
            line_.contains("security.protocol does not match"),
            "{line_}"
        );
        let refused_connection = "localhost:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)";
        let line_ = line(RDKafkaErrorCode::BrokerTransportFailure, refused_connection).unwrap();
        assert!(
            line_.starts_with("cannot reach the Kafka broker"),
            "{line_}"
        );
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
