//! The Java client for interop tests: `java/Interop.java` on the kafka-clients jar that
//! `.ci/setup` fetched, compiled once with `javac` and kept in the cache folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::cluster::{KafkaCluster, Listener, ADMIN};
use crate::dist::{cache_dir, fnv1a, KafkaDist, KAFKA_VERSION};

const SOURCE: &str = include_str!("../java/Interop.java");

/// The Java client (kafka-clients, the reference implementation) run as a program.
///
/// ```no_run
/// use fastkafka_test_support::{JavaClient, KafkaCluster, Listener};
///
/// let cluster = KafkaCluster::start(3);
/// let java = JavaClient::new();
/// let produced = java.produce(&cluster.bootstrap(Listener::Plaintext), "orders", 100);
/// assert_eq!(produced.produced, 100);
/// let partitions = java.partition_of(6, &["key-0", "key-1"]);
/// ```
#[derive(Debug, Clone)]
pub struct JavaClient {
    dist: KafkaDist,
    classes: PathBuf,
    properties: Vec<(String, String)>,
}

/// What [`JavaClient::produce`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaProduced {
    /// Records the broker acknowledged.
    pub produced: u64,
    /// Records whose send failed.
    pub failed: u64,
    /// Acknowledged records per partition.
    pub per_partition: BTreeMap<i32, u64>,
}

impl JavaClient {
    /// Compiles the program if this version of it is not compiled yet (a second or two
    /// of `javac`, once) and returns a client with the producer's defaults. Panics when
    /// Kafka has not been fetched or `javac` fails.
    pub fn new() -> JavaClient {
        let dist = KafkaDist::require();
        let classes = compiled(&dist);
        JavaClient {
            dist,
            classes,
            properties: Vec::new(),
        }
    }

    /// Sets a producer property (`security.protocol`, `linger.ms`, ...).
    pub fn property(mut self, name: &str, value: &str) -> JavaClient {
        self.properties.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the properties that connect through `listener` of `cluster`: for SSL and
    /// SASL_SSL the cluster's CA as a PEM truststore, for SASL_SSL SCRAM-SHA-512 as
    /// [`ADMIN`].
    pub fn connect_through(self, cluster: &KafkaCluster, listener: Listener) -> JavaClient {
        let client = self.property(
            "security.protocol",
            &listener.security_protocol().to_uppercase(),
        );
        if listener == Listener::Plaintext {
            return client;
        }
        let client = client.property("ssl.truststore.type", "PEM").property(
            "ssl.truststore.location",
            &cluster.ca_pem_path().display().to_string(),
        );
        if listener == Listener::Ssl {
            return client;
        }
        client.property("sasl.mechanism", "SCRAM-SHA-512").property(
            "sasl.jaas.config",
            &format!(
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
                ADMIN.name, ADMIN.password
            ),
        )
    }

    /// Produces `count` records to `topic` (keys `key-0`..`key-{count-1}`, values
    /// `value-0`.., the default partitioner, `acks=all`) and waits for every
    /// acknowledgement. Panics when the program cannot run or reports nothing.
    pub fn produce(&self, bootstrap: &str, topic: &str, count: usize) -> JavaProduced {
        let output = self.run(&["produce", bootstrap, topic, &count.to_string()]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut per_partition = BTreeMap::new();
        let mut totals = None;
        for line in stdout.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["partition", p, "count", c] => {
                    per_partition.insert(p.parse().unwrap(), c.parse().unwrap());
                }
                ["produced", p, "failed", f] => {
                    totals = Some((p.parse().unwrap(), f.parse().unwrap()));
                }
                _ => {}
            }
        }
        let (produced, failed) = totals.unwrap_or_else(|| {
            panic!(
                "the Java producer reported nothing ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
        JavaProduced {
            produced,
            failed,
            per_partition,
        }
    }

    /// The partition the Java producer's default partitioner gives each key (its UTF-8
    /// bytes) in a topic of `partitions` partitions, in the order of `keys`.
    pub fn partition_of<K: AsRef<str>>(&self, partitions: i32, keys: &[K]) -> Vec<i32> {
        let mut args = vec!["partition-of".to_owned(), partitions.to_string()];
        args.extend(keys.iter().map(|k| k.as_ref().to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.run(&args);
        assert!(
            output.status.success(),
            "Interop partition-of failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let partitions: Vec<i32> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.trim().parse().expect("a partition number"))
            .collect();
        assert_eq!(partitions.len(), keys.len(), "one partition per key");
        partitions
    }

    fn run(&self, args: &[&str]) -> Output {
        let classpath = format!("{}:{}", self.classes.display(), self.dist.classpath());
        Command::new("java")
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .args(
                self.properties
                    .iter()
                    .map(|(name, value)| format!("-Dinterop.{name}={value}")),
            )
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
            .arg("-cp")
            .arg(classpath)
            .arg("Interop")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `java` (Java 17 is needed): {e}"))
    }
}

impl Default for JavaClient {
    fn default() -> Self {
        JavaClient::new()
    }
}

/// The folder of `Interop.class` for this source and Kafka version, compiled now if it
/// is not there yet. Compiled into a fresh folder then renamed, so tests that compile
/// at once never see half a folder.
fn compiled(dist: &KafkaDist) -> PathBuf {
    let cache = cache_dir().unwrap_or_else(std::env::temp_dir);
    let classes = cache.join(format!(
        "interop-{KAFKA_VERSION}-{:016x}",
        fnv1a(SOURCE.as_bytes())
    ));
    if classes.join("Interop.class").is_file() {
        return classes;
    }
    std::fs::create_dir_all(&cache).expect("cannot create the cache folder");
    let work = tempfile::Builder::new()
        .prefix("interop-build-")
        .tempdir_in(&cache)
        .expect("cannot create a folder to compile in");
    let source = work.path().join("Interop.java");
    std::fs::write(&source, SOURCE).expect("cannot write Interop.java");
    let out = work.path().join("classes");
    javac(dist, &source, &out);
    // Another test may have renamed its copy first: then use that one.
    if std::fs::rename(&out, &classes).is_err() && !classes.join("Interop.class").is_file() {
        panic!("cannot move the compiled program to {}", classes.display());
    }
    classes
}

fn javac(dist: &KafkaDist, source: &Path, out: &Path) {
    let output = Command::new("javac")
        .args(["-nowarn", "-d"])
        .arg(out)
        .arg("-cp")
        .arg(dist.classpath())
        .arg(source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `javac` (a JDK 17 is needed): {e}"));
    assert!(
        output.status.success(),
        "javac Interop.java failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
