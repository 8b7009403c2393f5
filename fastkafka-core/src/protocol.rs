//! What the `fastkafka` CLI and an app binary say to each other, in one place for both
//! sides: the answers of the app's hidden subcommands as serde structs, the environment
//! variables and the stdout line of a supervised worker, the exit codes, and what a
//! `--kafka-broker NAME` names.
//!
//! The app writes these structs (the hidden subcommands of `fastkafka::main!`); the CLI reads them back with the same
//! types, so a change to one side that the other does not know is a compile error in
//! this workspace, and a version mismatch between a CLI and an app built from different
//! fastkafka releases is a clear error ([`Handshake::check_version`]), never a silently
//! skipped field.
//!
//! Not a public API: it changes with the CLI.

use serde::{Deserialize, Serialize};

/// The version of this protocol. Raised when an answer changes shape; the CLI refuses
/// an app that speaks a newer one than it knows.
///
/// - 1: the first.
/// - 2: `APP topics` lists the topics the app consumes too ([`DeclaredTopic::consumed`]),
///   and a topic the app does not create has no partition count.
pub const VERSION: u32 = 2;

/// Set by `fastkafka run --kafka-broker embedded` for its workers: the bootstrap address
/// of the embedded broker it started.
pub const EMBEDDED_BROKER_ENV: &str = "FASTKAFKA_EMBEDDED_BROKER";

/// Set by `fastkafka run` for each worker: its slot, 0 to N-1 (kept across restarts).
/// JSON logs carry it as the `worker` span's field.
pub const WORKER_ENV: &str = "FASTKAFKA_WORKER";

/// Set by `fastkafka run` for its workers: they take part in a two-phase stop.
pub const STOP_BARRIER_ENV: &str = "FASTKAFKA_STOP_BARRIER";

/// The line a worker prints on stdout once its consumers have committed at a stop
/// (with [`STOP_BARRIER_ENV`] set); it then waits for a line or EOF on stdin before it
/// leaves its consumer groups.
pub const COMMITTED_LINE: &str = "@fastkafka-stop: committed";

/// Exit codes of the app binaries and of `fastkafka` itself. docs/production.md has
/// them in one table, which a test keeps equal to these constants.
pub mod exit {
    /// Done as asked.
    pub const SUCCESS: u8 = 0;
    /// Failed at run time: a broker, the network, a crashed worker. Worth retrying.
    pub const FAILURE: u8 = 1;
    /// The user's mistake (bad arguments, an unknown broker, a program that is not an
    /// app): one clear line on stderr says what to change. Nothing to retry.
    pub const USAGE: u8 = 2;
    /// A broker refused the app (credentials, certificate, SASL mechanism, protocol):
    /// `EX_CONFIG` of sysexits.h. Restarting cannot help until the settings change, so
    /// `fastkafka run` does not restart a worker that exits with it.
    pub const REFUSED: u8 = 78;
    /// A second SIGINT or SIGTERM while the app was shutting down: it exited at once,
    /// without waiting for its handlers or its flush (128 + SIGINT, as shells report
    /// Ctrl-C). Messages still queued are lost.
    pub const INTERRUPTED: u8 = 130;
}

/// `APP brokers`: the handshake. The app's default broker and each broker it names,
/// by name and address; never a broker's properties (they hold credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    /// The protocol version the app speaks. Apps built before the protocol had a
    /// version printed none; their answers have version 1's shape.
    #[serde(default = "version_one")]
    pub protocol: u32,
    /// The broker the app runs against when `--kafka-broker` is not given.
    pub default: String,
    /// The brokers the app defines.
    pub brokers: Vec<NamedBroker>,
}

fn version_one() -> u32 {
    1
}

impl Handshake {
    /// `Err` with what to do when the app speaks a newer protocol than this side.
    pub fn check_version(&self) -> Result<(), String> {
        if self.protocol > VERSION {
            Err(format!(
                "the app speaks version {} of the fastkafka app protocol and this fastkafka CLI only knows version {VERSION}: install the CLI of the fastkafka release the app is built with",
                self.protocol
            ))
        } else {
            Ok(())
        }
    }

    /// The names of the brokers the app defines.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.brokers.iter().map(|b| b.name.as_str())
    }
}

/// One broker an app names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedBroker {
    /// Its name, as `--kafka-broker` takes it.
    pub name: String,
    /// Its `bootstrap.servers`.
    pub bootstrap: String,
}

/// One entry of `APP topics`: a topic the app creates (with its partition count) or
/// consumes, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredTopic {
    /// The topic.
    pub topic: String,
    /// The partitions the app creates it with (`fastkafka run --kafka-broker embedded`
    /// creates it so before any worker starts); `None` for a topic the app only
    /// consumes. Always written, so that an entry without it is malformed rather than
    /// a topic silently not created.
    #[serde(deserialize_with = "Option::deserialize")]
    pub partitions: Option<i32>,
    /// Whether one of the app's `#[consumes]` functions reads it (the topics
    /// `fastkafka docs serve` publishes examples to). `false` in the answer of an app
    /// that speaks version 1, which did not say: check [`Handshake::protocol`].
    #[serde(default)]
    pub consumed: bool,
}

/// `APP publish`: where the message landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// What a `--kafka-broker NAME` names, for an app that names the brokers `app_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerName {
    /// A broker the app names (it wins over the other meanings).
    Named,
    /// `embedded`: an in-process broker started for the run.
    Embedded,
    /// `localhost`: `localhost:9092`.
    Localhost,
    /// `HOST:PORT[,HOST:PORT...]`: a bootstrap address.
    Bootstrap,
    /// None of the above: a usage error.
    Unknown,
}

impl BrokerName {
    /// What `name` names.
    pub fn of<'a>(name: &str, mut app_names: impl Iterator<Item = &'a str>) -> BrokerName {
        if app_names.any(|n| n == name) {
            BrokerName::Named
        } else if name == "embedded" {
            BrokerName::Embedded
        } else if name == "localhost" {
            BrokerName::Localhost
        } else if looks_like_bootstrap(name) {
            BrokerName::Bootstrap
        } else {
            BrokerName::Unknown
        }
    }
}

/// `host:port` (or several, comma-separated), as opposed to a broker's name.
fn looks_like_bootstrap(s: &str) -> bool {
    s.split(',').all(|part| {
        part.rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_the_app_gives_wins_then_the_builtin_meanings() {
        let app = ["embedded", "prod"];
        assert_eq!(
            BrokerName::of("embedded", app.into_iter()),
            BrokerName::Named
        );
        assert_eq!(BrokerName::of("prod", app.into_iter()), BrokerName::Named);
        let none = std::iter::empty();
        assert_eq!(BrokerName::of("embedded", none), BrokerName::Embedded);
        assert_eq!(
            BrokerName::of("localhost", std::iter::empty()),
            BrokerName::Localhost
        );
        for bootstrap in ["kafka:9092", "a:1,b:2", "[::1]:9092"] {
            assert_eq!(
                BrokerName::of(bootstrap, std::iter::empty()),
                BrokerName::Bootstrap,
                "{bootstrap}"
            );
        }
        for unknown in ["prod", ":9092", "kafka:port", "kafka:70000", "a:1,b"] {
            assert_eq!(
                BrokerName::of(unknown, std::iter::empty()),
                BrokerName::Unknown,
                "{unknown}"
            );
        }
    }

    #[test]
    #[allow(deprecated)]
    fn the_old_root_paths_still_name_the_protocols_constants() {
        assert_eq!(crate::EXIT_REFUSED, exit::REFUSED);
        assert_eq!(crate::EMBEDDED_BROKER_ENV, EMBEDDED_BROKER_ENV);
        assert_eq!(crate::STOP_BARRIER_ENV, STOP_BARRIER_ENV);
        assert_eq!(crate::COMMITTED_LINE, COMMITTED_LINE);
    }

    #[test]
    fn a_handshake_without_a_version_is_version_one_and_a_newer_one_is_refused() {
        let old: Handshake =
            serde_json::from_str(r#"{"default":"d","brokers":[{"name":"d","bootstrap":"h:1"}]}"#)
                .unwrap();
        assert_eq!(old.protocol, 1);
        assert!(old.check_version().is_ok());
        let newer = Handshake {
            protocol: VERSION + 1,
            ..old
        };
        let err = newer.check_version().unwrap_err();
        assert!(err.contains("install the CLI"), "{err}");
    }
}
