//! Where the Apache Kafka jars that `.ci/setup` fetched live, and what a test does when
//! they are missing: skip with a message on a developer's machine, fail in CI.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The Apache Kafka version the tests run; `.ci/kafka/pom.xml` pins the same one.
pub const KAFKA_VERSION: &str = "4.1.2";

/// The variable that points at a Kafka folder holding `libs/` (the broker and client
/// jars), instead of the cache folder `.ci/setup` fills.
pub const KAFKA_HOME_VAR: &str = "FASTKAFKA_KAFKA_HOME";

/// A fetched Apache Kafka: a folder whose `libs/` holds the broker, its runtime
/// dependencies and kafka-clients.
#[derive(Debug, Clone)]
pub struct KafkaDist {
    home: PathBuf,
}

impl KafkaDist {
    /// The Kafka that `$FASTKAFKA_KAFKA_HOME` names, else the one `.ci/setup` put in
    /// `~/.cache/fastkafka/kafka-<KAFKA_VERSION>` (`$XDG_CACHE_HOME` when set); `None`
    /// when neither has `libs/`.
    pub fn locate() -> Option<KafkaDist> {
        let home = match std::env::var_os(KAFKA_HOME_VAR) {
            Some(home) => PathBuf::from(home),
            None => cache_dir()?.join(format!("kafka-{KAFKA_VERSION}")),
        };
        let dist = KafkaDist { home };
        // Any kafka_2.13 jar: `$FASTKAFKA_KAFKA_HOME` may hold another version.
        let mut jars = std::fs::read_dir(dist.libs()).ok()?.filter_map(|e| e.ok());
        jars.any(|jar| jar.file_name().to_string_lossy().starts_with("kafka_2.13-"))
            .then_some(dist)
    }

    /// The folder holding `libs/`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The folder of jars.
    pub fn libs(&self) -> PathBuf {
        self.home.join("libs")
    }

    /// The `-cp` argument that puts every jar of `libs/` on a JVM's classpath.
    pub fn classpath(&self) -> String {
        format!("{}/*", self.libs().display())
    }

    /// The fetched Kafka, or a panic that says how to fetch it.
    pub fn require() -> KafkaDist {
        KafkaDist::locate().unwrap_or_else(|| panic!("{}", missing_message()))
    }
}

/// Whether Apache Kafka has been fetched, for a test to return early when it has not:
///
/// ```no_run
/// # fn a_test() {
/// if !fastkafka_test_support::kafka_available() {
///     return; // the message says why, and how to fetch Kafka
/// }
/// let cluster = fastkafka_test_support::KafkaCluster::start(3);
/// # }
/// ```
///
/// When Kafka is missing, this prints to the terminal (past the test harness's capture)
/// that the test is skipped and to run `bash .ci/setup`, and returns `false`; in CI
/// (`CI` set to anything but `false` or `0`) it panics instead, so that a missing setup
/// step fails the run rather than passing it empty.
pub fn kafka_available() -> bool {
    if KafkaDist::locate().is_some() {
        return true;
    }
    if in_ci() {
        panic!(
            "{} (CI is set: a real-Kafka test may not be skipped)",
            missing_message()
        );
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a real-Kafka test")
        .to_owned();
    // Straight to stderr, not through eprintln!, which the harness captures.
    let _ = writeln!(std::io::stderr(), "skipped {test}: {}", missing_message());
    false
}

fn missing_message() -> String {
    let looked_in = match std::env::var_os(KAFKA_HOME_VAR) {
        Some(home) => format!("${KAFKA_HOME_VAR}={}", PathBuf::from(home).display()),
        None => cache_dir()
            .map(|c| {
                c.join(format!("kafka-{KAFKA_VERSION}"))
                    .display()
                    .to_string()
            })
            .unwrap_or_else(|| "~/.cache/fastkafka (HOME is not set)".into()),
    };
    format!(
        "Apache Kafka {KAFKA_VERSION} is not fetched (no libs/ in {looked_in}): run `bash .ci/setup` (Maven, Java 17), or set {KAFKA_HOME_VAR} to a Kafka folder with libs/"
    )
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `$XDG_CACHE_HOME/fastkafka`, else `~/.cache/fastkafka`: where `.ci/setup` puts Kafka
/// and where the compiled Java interop program is kept.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(cache) => PathBuf::from(cache),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("fastkafka"))
}

/// FNV-1a, 64 bits: a cache key that stays the same across Rust versions.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_the_one_setup_fetches() {
        let pom = include_str!("../../.ci/kafka/pom.xml");
        assert!(
            pom.contains(&format!("<kafka.version>{KAFKA_VERSION}</kafka.version>")),
            ".ci/kafka/pom.xml and KAFKA_VERSION disagree"
        );
    }
}
