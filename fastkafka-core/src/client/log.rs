//! librdkafka's logs and errors, without the flood.
//!
//! While a broker is unreachable, librdkafka reports the same connection failure many
//! times a second, from its log and its error callbacks, for every client. An app run
//! against a broker that is not there (the default `localhost:9092`, say) would print
//! dozens of identical lines a second. Here each distinct failure is logged once, then
//! at most once per [`REPEAT_EVERY`] with how many repeats were held back; everything
//! else passes through at its own level, as rdkafka's default context does.
//!
//! A connection failure says which address failed and why, in plain words (the host
//! name does not resolve, the connection was refused, no answer, TLS, SASL), then
//! librdkafka's own text. A failure at a bootstrap address means the broker may not be
//! there at all; one at a node of the cluster (`host:port/2`), learnt from the cluster
//! itself, means that node went away, and is said so. The same failure at the same
//! address is one line for the whole process, whichever of its clients saw it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::sync::LockUnpoisoned;

/// The target of this file's log lines: the module they came from before `client/`
/// existed, kept so that `RUST_LOG` filters and log readers see the same name.
pub(super) const LOG_TARGET: &str = "fastkafka::client_log";

/// How often a repeating failure is logged again.
pub(crate) const REPEAT_EVERY: Duration = Duration::from_secs(30);

/// Repeating failures of the whole process, by what failed and where: when each was
/// last logged, and how many since.
fn seen() -> &'static Mutex<HashMap<String, (Instant, u64)>> {
    static SEEN: OnceLock<Mutex<HashMap<String, (Instant, u64)>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// The log of one librdkafka client (a producer or a consumer).
pub(crate) struct ClientLog {
    /// What the client is, for the log lines: `producer for broker localhost`...
    client: String,
    /// The first failure that retrying cannot fix (see [`REFUSALS`]), as one line.
    refused: Mutex<Option<String>>,
    /// The first failure to connect at each address (recorded by a quiet log).
    unreachable: Mutex<Vec<Unreachable>>,
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
            refused: Mutex::new(None),
            unreachable: Mutex::new(Vec::new()),
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

    /// The addresses that failed so far (a quiet log records them).
    pub(crate) fn unreachable(&self) -> Vec<String> {
        self.unreachable
            .lock_unpoisoned()
            .iter()
            .map(|u| u.address.clone())
            .collect()
    }

    /// The first connection failure at each address that failed, for
    /// [`warn_unreachable`].
    pub(crate) fn take_unreachable(&self) -> Vec<Unreachable> {
        std::mem::take(&mut *self.unreachable.lock_unpoisoned())
    }

    /// librdkafka's error callback.
    pub(crate) fn error(&self, error: KafkaError, reason: &str) {
        if self.quiet {
            if let Some(code) = error.rdkafka_error_code() {
                if let Failure::Connection { key, what, address } = describe(code, reason) {
                    let line = format!("{what}: {reason}");
                    if REFUSALS.contains(&key) {
                        let mut refused = self.refused.lock_unpoisoned();
                        refused.get_or_insert_with(|| line.clone());
                    }
                    if let Some(address) = address {
                        let mut unreachable = self.unreachable.lock_unpoisoned();
                        if !unreachable.iter().any(|u| u.address == address) {
                            unreachable.push(Unreachable {
                                key: repeat_key_of(key, &address),
                                address,
                                line,
                            });
                        }
                    }
                }
            }
            return;
        }
        let Some(code) = error.rdkafka_error_code() else {
            tracing::error!(target: LOG_TARGET, client = %self.client, "librdkafka: {error}: {reason}");
            return;
        };
        match describe(code, reason) {
            Failure::Connection { key, what, address } => {
                let key = repeat_key_of(key, address.as_deref().unwrap_or(""));
                if let Some(held_back) = due(key) {
                    tracing::warn!(target: LOG_TARGET, client = %self.client, held_back, "{what}: {reason}");
                }
            }
            Failure::AllBrokersDown => {
                // The consequence of a failure logged just before (unreachable, refused,
                // TLS...), which says more; alone, it is worth one line of its own.
                if !logged_recently(CONNECTION_KEYS) {
                    if let Some(held_back) = due(format!("all-down {}", self.client)) {
                        tracing::warn!(target: LOG_TARGET, client = %self.client, held_back, "{ALL_BROKERS_DOWN}");
                    }
                }
            }
            Failure::Other => {
                tracing::error!(target: LOG_TARGET, client = %self.client, "librdkafka: {error}: {reason}");
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
            if let Some(held_back) = due(repeat_key(fac, message)) {
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
}

/// The first connection failure at one address.
pub(crate) struct Unreachable {
    address: String,
    /// Its key in the process's repeating failures.
    key: String,
    /// What failed and why, then librdkafka's reason.
    line: String,
}

/// Logs the failures a quiet log found, one warning per address, and counts them as
/// logged: the app's clients that meet the same failures next say nothing new until
/// [`REPEAT_EVERY`] has passed.
pub(crate) fn warn_unreachable(broker: &str, failures: &[Unreachable]) {
    for failure in failures {
        if let Some(held_back) = due(failure.key.clone()) {
            tracing::warn!(target: LOG_TARGET, broker, held_back, "{}", failure.line);
        }
    }
}

/// The key under which a failure `key` at `address` repeats.
fn repeat_key_of(key: &str, address: &str) -> String {
    format!("{key} {address}")
}

/// Whether a connection failure of one of the kinds `keys` is being reported, at any
/// address: logged within two [`REPEAT_EVERY`]s (it repeats about every one, a little
/// later than librdkafka's "all brokers down" that follows it).
fn logged_recently(keys: &[&str]) -> bool {
    let seen = seen().lock_unpoisoned();
    seen.iter().any(|(key, (last, _))| {
        let kind = key.split(' ').next().unwrap_or_default();
        keys.contains(&kind) && last.elapsed() < 2 * REPEAT_EVERY
    })
}

/// `Some(repeats held back since)` when a failure is to be logged now.
fn due(key: String) -> Option<u64> {
    let now = Instant::now();
    let mut seen = seen().lock_unpoisoned();
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

/// What a failure reported by librdkafka's error callback means.
#[derive(Debug, PartialEq)]
enum Failure {
    /// A broker connection failed: logged once per `key` and address and
    /// [`REPEAT_EVERY`], as `what`, then librdkafka's reason.
    Connection {
        key: &'static str,
        what: String,
        /// The `host:port` that failed, when the reason names one.
        address: Option<String>,
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
    "node",
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

/// Which broker connection a librdkafka reason is about.
#[derive(Debug, PartialEq)]
struct Origin<'a> {
    /// `host:port`.
    address: &'a str,
    /// A node of the cluster, learnt from its metadata (`host:port/2`, or a logical
    /// broker such as `GroupCoordinator`), rather than an address the app was given
    /// (`host:port/bootstrap`).
    node: Option<&'a str>,
}

/// Reads the broker from the start of a reason: `[proto://]host:port/ID: ...`, or
/// `Coordinator: host:port: ...` for a logical broker.
fn origin(reason: &str) -> Option<Origin<'_>> {
    let unprefixed = ["ssl://", "sasl_ssl://", "sasl_plaintext://", "plaintext://"]
        .iter()
        .find_map(|p| reason.strip_prefix(p))
        .unwrap_or(reason);
    let (name, rest) = unprefixed.split_once(": ")?;
    if let Some((address, id)) = name.rsplit_once('/') {
        let node = match id {
            "bootstrap" => None,
            id if id.parse::<i32>().is_ok() => Some(id),
            _ => return None,
        };
        return address.contains(':').then_some(Origin { address, node });
    }
    // A logical broker: its current node's address follows its name.
    let (address, _) = rest.split_once(": ")?;
    let address = address.rsplit_once("://").map_or(address, |(_, a)| a);
    let address = address.split('/').next().unwrap_or(address);
    (address.contains(':') && !address.contains(' ')).then_some(Origin {
        address,
        node: Some(name),
    })
}

/// What went wrong with a connection, in plain words, from librdkafka's reason.
fn connection_cause(says: impl Fn(&str) -> bool) -> &'static str {
    if says("failed to resolve") {
        "the host name does not resolve"
    } else if says("connection refused") {
        "connection refused (nothing listens at that address)"
    } else if says("timed out") {
        "no answer (the connection timed out)"
    } else if says("disconnected") {
        "the broker closed the connection"
    } else {
        "the connection failed"
    }
}

/// Sorts a failure by its code and, for the codes librdkafka uses for several causes,
/// by its reason; says where it happened.
fn describe(code: RDKafkaErrorCode, reason: &str) -> Failure {
    use RDKafkaErrorCode as Code;
    let lower = reason.to_ascii_lowercase();
    let says = |text: &str| lower.contains(&text.to_ascii_lowercase());
    let origin = origin(reason);
    let at = origin
        .as_ref()
        .map_or(String::new(), |o| format!(" at {}", o.address));
    let address = origin.as_ref().map(|o| o.address.to_string());
    let transport = matches!(code, Code::BrokerTransportFailure | Code::Resolve);
    // A node the cluster named went away: the client reached the cluster with these
    // settings, so neither the address nor the security settings are to blame.
    if let (
        true,
        Some(Origin {
            address,
            node: Some(node),
        }),
    ) = (transport, &origin)
    {
        let node = match node.parse::<i32>() {
            Ok(id) => format!("node {id}"),
            Err(_) => format!("the node serving as {node}"),
        };
        let cause = connection_cause(says);
        return Failure::Connection {
            key: "node",
            what: format!(
                "lost the connection to {node} of the Kafka cluster ({address}): {cause}; librdkafka reconnects, and what waits on that node (the partitions it leads) resumes when it is back or the cluster moves them to another node"
            ),
            address: Some(address.to_string()),
        };
    }
    let (key, what) = match code {
        // librdkafka's hints for a connection closed at the first request or just after:
        // the broker is there, but speaks TLS or SASL and the client does not.
        Code::BrokerTransportFailure if says("security.protocol") => (
            "protocol",
            "the broker closed the connection: the client's security.protocol does not match this listener (plaintext against a TLS or SASL port?); check the broker's security settings (Broker::security) and the port".to_string(),
        ),
        Code::AllBrokersDown => return Failure::AllBrokersDown,
        Code::Resolve | Code::BrokerTransportFailure if says("failed to resolve") => (
            "resolve",
            format!("cannot reach the Kafka broker{at}: the host name does not resolve; check the address the app was given (librdkafka keeps retrying and queued messages wait)"),
        ),
        Code::BrokerTransportFailure | Code::Resolve => {
            let cause = connection_cause(says);
            let hint = if says("connection refused") {
                "; is Kafka running there? (`--kafka-broker embedded` runs one in-process)"
            } else if says("timed out") {
                "; check the address, and that no firewall drops the connection"
            } else {
                ""
            };
            (
                "unreachable",
                format!("cannot reach the Kafka broker{at}: {cause}{hint}; librdkafka keeps retrying and queued messages wait"),
            )
        }
        // What the broker answers when the username or password is wrong.
        Code::Authentication
            if says("invalid credentials") || says("invalid username or password") || says("authentication failed") =>
        {
            (
                "credentials",
                "the broker refused the credentials; check the username and password (Broker::security)".to_string(),
            )
        }
        // A listener without SASL answers the SASL handshake with "not valid in the
        // current SASL state": the client uses SASL where the broker does not.
        Code::Authentication if says("handshake failed") && says("SASL state") => (
            "sasl-handshake",
            "the broker's listener does not do SASL at this address (it refused the SASL handshake): the client's security.protocol does not match it; check the broker's security settings (Broker::security) and the port".to_string(),
        ),
        Code::Authentication if says("unsupported sasl mechanism") => (
            "sasl-mechanism",
            "the broker does not offer the client's SASL mechanism (sasl.mechanism); use one of the mechanisms it lists".to_string(),
        ),
        Code::Authentication if says("failed to initialize sasl") => (
            "sasl-setup",
            "the client cannot start SASL authentication; check sasl.mechanism and the SASL settings (Broker::security)".to_string(),
        ),
        Code::Authentication => (
            "sasl",
            "SASL authentication with the broker failed; check the broker's security settings (Broker::security) and the port".to_string(),
        ),
        Code::SSL => (
            "tls",
            "the TLS handshake with the broker failed (a plaintext port, or a certificate the client does not trust?); check the broker's security settings (Broker::security) and the port".to_string(),
        ),
        _ => return Failure::Other,
    };
    Failure::Connection { key, what, address }
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
        assert_eq!(due("test-a".into()), Some(0));
        assert_eq!(due("test-a".into()), None);
        assert_eq!(due("test-a".into()), None);
        assert_eq!(
            due("test-b".into()),
            Some(0),
            "a different failure is shown"
        );
        // Once REPEAT_EVERY has passed, it shows again with the count held back.
        seen().lock().unwrap().get_mut("test-a").unwrap().0 -= REPEAT_EVERY;
        assert_eq!(due("test-a".into()), Some(2));
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
        assert!(!logged_recently(&["tls"]));
        due(repeat_key_of("tls", "kafka:9093"));
        assert!(logged_recently(&["tls"]));
    }

    #[test]
    fn a_connection_failure_says_why_and_where() {
        use RDKafkaErrorCode::{BrokerTransportFailure, Resolve};
        let resolve = "nohost.invalid:9092/bootstrap: Failed to resolve 'nohost.invalid:9092': Name or service not known (after 5ms in state CONNECT)";
        for code in [Resolve, BrokerTransportFailure] {
            let line = line(code, resolve).unwrap();
            assert!(
                line.starts_with("cannot reach the Kafka broker at nohost.invalid:9092: the host name does not resolve"),
                "{line}"
            );
        }
        let refused = "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)";
        let line_ = line(BrokerTransportFailure, refused).unwrap();
        assert!(
            line_.starts_with("cannot reach the Kafka broker at 127.0.0.1:1: connection refused"),
            "{line_}"
        );
        let timeout = "10.9.9.9:9092/bootstrap: Connection setup timed out in state CONNECT (after 30029ms in state CONNECT)";
        let line_ = line(BrokerTransportFailure, timeout).unwrap();
        assert!(line_.contains("at 10.9.9.9:9092: no answer"), "{line_}");
        assert!(!line_.contains("embedded"), "{line_}");
        let Failure::Connection { address, .. } = describe(BrokerTransportFailure, refused) else {
            panic!("a connection failure")
        };
        assert_eq!(address.as_deref(), Some("127.0.0.1:1"));
    }

    #[test]
    fn a_lost_node_of_a_cluster_is_named_and_not_blamed_on_the_settings() {
        use RDKafkaErrorCode::BrokerTransportFailure;
        let reasons = [
            ("sasl_ssl://kafka2:9094/2: Connect to ipv4#10.0.0.2:9094 failed: Connection refused (after 0ms in state CONNECT)", "node 2 of the Kafka cluster (kafka2:9094): connection refused"),
            ("ssl://kafka2:9093/2: Disconnected: verify that security.protocol is correctly configured, broker might require SASL authentication (after 12ms in state UP)", "node 2 of the Kafka cluster (kafka2:9093): the broker closed the connection"),
            ("kafka3:9092/3: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10 (see api.version.request) (after 1ms in state APIVERSION_QUERY)", "node 3 of the Kafka cluster (kafka3:9092)"),
            ("GroupCoordinator: kafka1:9092: Disconnected (after 4000ms in state UP)", "the node serving as GroupCoordinator of the Kafka cluster (kafka1:9092)"),
        ];
        for (reason, named) in reasons {
            let Failure::Connection { what, .. } = describe(BrokerTransportFailure, reason) else {
                panic!("a connection failure: {reason}")
            };
            assert!(
                what.starts_with(&format!("lost the connection to {named}")),
                "{what}"
            );
            // What fastkafka adds (librdkafka's own text follows it).
            for wrong in ["embedded", "security.protocol", "plaintext"] {
                assert!(!what.contains(wrong), "{what}");
            }
        }
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
            line_.starts_with("cannot reach the Kafka broker at localhost:9092"),
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
