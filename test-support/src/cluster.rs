//! A real Apache Kafka cluster for a test: KRaft, each node both broker and controller,
//! on loopback ports, with PLAINTEXT, SSL and SASL_SSL listeners.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::certs::Certificates;
use crate::class_archive::class_archive;
use crate::dist::KafkaDist;
use crate::launcher::Launcher;

/// How long a cluster, or one restarted broker, may take to serve before the test fails.
/// Generous: three JVMs starting at once on a 2-core machine that other builds share.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The JVM options of each broker, unless `$FASTKAFKA_KAFKA_JVM_OPTS` replaces them: a
/// small heap (a test cluster holds little data), the serial collector (no GC threads
/// per core) and the C1 compiler only (C2 costs seconds of CPU at start, which three
/// JVMs on two cores feel; the brokers are not what the tests measure).
pub const DEFAULT_JVM_OPTIONS: &[&str] = &[
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
];

/// The variable whose whitespace-separated words replace [`DEFAULT_JVM_OPTIONS`].
pub const JVM_OPTIONS_VAR: &str = "FASTKAFKA_KAFKA_JVM_OPTS";

/// A listener of every broker of a [`KafkaCluster`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listener {
    /// No TLS, no authentication.
    Plaintext,
    /// TLS with the cluster's own CA ([`KafkaCluster::ca_pem_path`]), no client
    /// certificate asked.
    Ssl,
    /// TLS as [`Listener::Ssl`], then SASL: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, with
    /// the users [`ADMIN`] and [`ALICE`]; or OAUTHBEARER with an unsecured JWT (header
    /// `{"alg":"none"}`, the principal in `sub`, an `exp`), as Kafka's default
    /// validator accepts.
    SaslSsl,
}

impl Listener {
    /// The value of `security.protocol` for this listener.
    pub fn security_protocol(self) -> &'static str {
        match self {
            Listener::Plaintext => "plaintext",
            Listener::Ssl => "ssl",
            Listener::SaslSsl => "sasl_ssl",
        }
    }
}

/// A SASL mechanism the SASL_SSL listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN`: the password travels (inside TLS) to the broker.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// The value of `sasl.mechanism`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A user the SASL_SSL listener knows, with the same password for every mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// `sasl.username`.
    pub name: &'static str,
    /// `sasl.password`.
    pub password: &'static str,
}

/// A user created at start, for SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN.
pub const ADMIN: User = User {
    name: "admin",
    password: "admin-secret-5f1c",
};

/// A second user created at start, for SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN.
pub const ALICE: User = User {
    name: "alice",
    password: "alice-secret-9d2e",
};

const USERS: [User; 2] = [ADMIN, ALICE];

#[derive(Debug, Clone, Copy)]
struct Ports {
    plaintext: u16,
    ssl: u16,
    sasl_ssl: u16,
    controller: u16,
}

impl Ports {
    fn of(&self, listener: Listener) -> u16 {
        match listener {
            Listener::Plaintext => self.plaintext,
            Listener::Ssl => self.ssl,
            Listener::SaslSsl => self.sasl_ssl,
        }
    }
}

/// Why brokers did not come to serve.
struct StartFailure {
    message: String,
    /// A broker could not bind a port: starting again on other ports may work.
    port_taken: bool,
}

struct Broker {
    ports: Ports,
    dir: PathBuf,
    child: Option<Child>,
    /// Where the current run's lines start in `broker.log`.
    log_start: u64,
}

impl Broker {
    fn config_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }
}

/// A KRaft cluster of real Apache Kafka brokers, each a JVM (`kafka.Kafka`) that is both
/// broker and controller, on free loopback ports; every JVM is killed when the cluster
/// is dropped, and also when the test process dies.
///
/// ```no_run
/// use fastkafka_test_support::{KafkaCluster, Listener};
///
/// let cluster = KafkaCluster::start(3);
/// let bootstrap = cluster.bootstrap(Listener::SaslSsl); // "127.0.0.1:p1,127.0.0.1:p2,..."
/// let config = cluster.client_config(Listener::SaslSsl); // CA, SCRAM-SHA-512, admin
/// cluster.kill(1); // SIGKILL of broker 1's JVM
/// cluster.restart(1); // returns once broker 1 serves again
/// ```
///
/// Broker `i` has `node.id` `i`, so a partition leader's id is also the index that
/// [`kill`](Self::kill) and [`restart`](Self::restart) take. Internal topics and topics
/// created without a replication factor get `min(3, brokers)` replicas and
/// `min.insync.replicas` is `min(2, brokers)`, as in a production cluster.
pub struct KafkaCluster {
    dist: KafkaDist,
    dir_path: PathBuf,
    dir: Mutex<Option<tempfile::TempDir>>,
    certs: Certificates,
    brokers: Mutex<Vec<Broker>>,
    jvm_options: Vec<String>,
    /// `-XX:SharedArchiveFile=...` when there is a class-data archive.
    class_archive: Option<String>,
    started_in: Duration,
    // Last: dropped after the brokers are killed.
    launcher: Launcher,
}

impl KafkaCluster {
    /// Starts `brokers` brokers at once and returns when every one of them serves
    /// (a client sees all of them in the cluster's metadata).
    ///
    /// Panics when Kafka has not been fetched (the message says to run `.ci/setup`:
    /// call [`kafka_available`](crate::kafka_available) first to skip instead), or when
    /// the cluster does not serve within 3 minutes, with the end of each broker's log.
    pub fn start(brokers: usize) -> KafkaCluster {
        assert!(brokers > 0, "a cluster needs at least one broker");
        let dist = KafkaDist::require();
        let jvm_options = jvm_options();
        // Made once per machine, before the clock starts.
        let class_archive = class_archive(&dist, &jvm_options)
            .map(|archive| format!("-XX:SharedArchiveFile={}", archive.display()));
        // A port found free can be taken by another process before the broker binds it:
        // then the whole cluster starts again on other ports.
        let mut attempt = 1;
        loop {
            let began = Instant::now();
            let mut cluster = KafkaCluster::prepare(
                brokers,
                dist.clone(),
                jvm_options.clone(),
                class_archive.clone(),
            );
            cluster.format_storage();
            {
                let mut nodes = cluster.lock();
                for id in 0..brokers {
                    cluster.spawn(&mut nodes, id);
                }
            }
            let all: Vec<usize> = (0..brokers).collect();
            match cluster.wait_until_serving(&all, began + START_TIMEOUT) {
                Ok(()) => {
                    cluster.started_in = began.elapsed();
                    return cluster;
                }
                Err(failure) if failure.port_taken && attempt < 3 => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "a Kafka port was taken before the broker bound it; starting the cluster again"
                    );
                    attempt += 1;
                }
                Err(failure) => panic!("{}", failure.message),
            }
        }
    }

    /// The folder, certificates, ports and `server.properties` of a cluster not started.
    fn prepare(
        brokers: usize,
        dist: KafkaDist,
        jvm_options: Vec<String>,
        class_archive: Option<String>,
    ) -> KafkaCluster {
        let dir = tempfile::Builder::new()
            .prefix("fastkafka-kafka-")
            .tempdir()
            .expect("cannot create a temporary folder for the cluster");
        let certs = Certificates::generate(dir.path()).expect("cannot write the certificates");
        let ports = free_ports(brokers);
        let voters = ports
            .iter()
            .enumerate()
            .map(|(id, p)| format!("{id}@127.0.0.1:{}", p.controller))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::with_capacity(brokers);
        for (id, ports) in ports.into_iter().enumerate() {
            let broker_dir = dir.path().join(format!("broker-{id}"));
            std::fs::create_dir_all(&broker_dir).expect("cannot create a broker folder");
            let broker = Broker {
                ports,
                dir: broker_dir,
                child: None,
                log_start: 0,
            };
            let config = server_properties(id, brokers, &ports, &voters, &broker.dir, &certs);
            std::fs::write(broker.config_path(), config).expect("cannot write server.properties");
            nodes.push(broker);
        }
        KafkaCluster {
            dist,
            dir_path: dir.path().to_owned(),
            dir: Mutex::new(Some(dir)),
            certs,
            brokers: Mutex::new(nodes),
            jvm_options,
            class_archive,
            started_in: Duration::ZERO,
            launcher: Launcher::new("kafka-cluster-launcher"),
        }
    }

    /// How long [`start`](Self::start) took, from the certificates to the last broker
    /// serving (not counting the class-data archive made on a machine's first start).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The number of brokers, running or not.
    pub fn broker_count(&self) -> usize {
        self.lock().len()
    }

    /// `bootstrap.servers` for `listener`: every broker's address, killed ones included
    /// (a client skips those).
    pub fn bootstrap(&self, listener: Listener) -> String {
        self.lock()
            .iter()
            .map(|b| format!("127.0.0.1:{}", b.ports.of(listener)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of broker `index` on `listener`.
    pub fn broker_address(&self, index: usize, listener: Listener) -> String {
        format!("127.0.0.1:{}", self.lock()[index].ports.of(listener))
    }

    /// The PEM file of the CA that signed the brokers' certificate, for a client's
    /// `ssl.ca.location`.
    pub fn ca_pem_path(&self) -> &Path {
        &self.certs.ca_pem
    }

    /// The users the SASL_SSL listener knows: [`ADMIN`] and [`ALICE`].
    pub fn users(&self) -> &'static [User] {
        &USERS
    }

    /// A plain consumer on `listener`, no group membership, assigned every one of
    /// `partitions` partitions of `topic` from the beginning: for reading back what was
    /// written.
    pub fn reader(&self, listener: Listener, topic: &str, partitions: i32) -> BaseConsumer {
        let consumer: BaseConsumer = self
            .client_config(listener)
            .set("group.id", "fastkafka-test-support-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("a consumer from the cluster's client config");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("a partition of the assignment");
        }
        consumer
            .assign(&assignment)
            .expect("assigning the partitions");
        consumer
    }

    /// A client configuration that connects through `listener`: `bootstrap.servers`,
    /// `security.protocol`, for SSL and SASL_SSL `ssl.ca.location`, and for SASL_SSL
    /// SCRAM-SHA-512 as [`ADMIN`].
    pub fn client_config(&self, listener: Listener) -> ClientConfig {
        if listener == Listener::SaslSsl {
            return self.sasl_client_config(SaslMechanism::ScramSha512, ADMIN.name, ADMIN.password);
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap(listener))
            .set("security.protocol", listener.security_protocol());
        if listener == Listener::Ssl {
            config.set("ssl.ca.location", self.ca_pem_path().display().to_string());
        }
        config
    }

    /// A client configuration for the SASL_SSL listener with `mechanism` and these
    /// credentials (which need not be right: a test of a refused login uses this too).
    pub fn sasl_client_config(
        &self,
        mechanism: SaslMechanism,
        username: &str,
        password: &str,
    ) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap(Listener::SaslSsl))
            .set("security.protocol", Listener::SaslSsl.security_protocol())
            .set("ssl.ca.location", self.ca_pem_path().display().to_string())
            .set("sasl.mechanism", mechanism.name())
            .set("sasl.username", username)
            .set("sasl.password", password);
        config
    }

    /// Kills broker `index`'s JVM with SIGKILL, as a crash or an OOM kill would, and
    /// waits until it has exited. Panics if it is not running.
    pub fn kill(&self, index: usize) {
        let mut nodes = self.lock();
        let mut child = nodes[index]
            .child
            .take()
            .unwrap_or_else(|| panic!("broker {index} is not running"));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
    }

    /// Stops broker `index` cleanly (SIGTERM: it hands its partitions over first) and
    /// waits until it has exited, killing it after 60 s. Panics if it is not running.
    pub fn stop(&self, index: usize) {
        let mut nodes = self.lock();
        let mut child = nodes[index]
            .child
            .take()
            .unwrap_or_else(|| panic!("broker {index} is not running"));
        // SAFETY: kill(2) on the pid of a child that has not been waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts broker `index` again, with its data and ports, killing it first if it
    /// runs, and returns once it serves (its log says it started and it is back in the
    /// cluster's metadata). Right after a kill that takes about 10 s: the controller
    /// refuses the new JVM's registration until the dead one's session has expired
    /// (`broker.session.timeout.ms`, 9 s).
    pub fn restart(&self, index: usize) {
        let began = Instant::now();
        {
            let mut nodes = self.lock();
            if let Some(mut child) = nodes[index].child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            self.spawn(&mut nodes, index);
        }
        if let Err(failure) = self.wait_until_serving(&[index], began + START_TIMEOUT) {
            panic!("{}", failure.message);
        }
    }

    /// Whether broker `index`'s JVM runs.
    pub fn is_running(&self, index: usize) -> bool {
        let mut nodes = self.lock();
        match nodes[index].child.as_mut() {
            Some(child) => child.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// The process id of broker `index`'s JVM, if it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.lock()[index].child.as_ref().map(Child::id)
    }

    /// The resident memory of each broker's JVM in bytes (`None` for one that is not
    /// running), from `/proc/PID/status`.
    pub fn rss_bytes(&self) -> Vec<Option<u64>> {
        (0..self.broker_count())
            .map(|i| self.pid(i).and_then(rss_bytes_of))
            .collect()
    }

    /// The broker that leads `partition` of `topic`, as the cluster's metadata says now
    /// (right after a kill it may still name the dead broker until the controller
    /// notices, within `broker.session.timeout.ms`, 9 s); `None` if the topic or
    /// partition is unknown or has no leader.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<usize> {
        let consumer = self.metadata_client();
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .ok()?;
        let topic = metadata.topics().iter().find(|t| t.name() == topic)?;
        if topic.error().is_some() {
            return None;
        }
        let leader = topic
            .partitions()
            .iter()
            .find(|p| p.id() == partition)?
            .leader();
        usize::try_from(leader).ok()
    }

    /// The path of broker `index`'s log (its stdout and stderr, every run appended).
    pub fn log_path(&self, index: usize) -> PathBuf {
        self.lock()[index].log_path()
    }

    /// The last `lines` lines of broker `index`'s log.
    pub fn log_tail(&self, index: usize, lines: usize) -> String {
        tail(&self.log_path(index), lines)
    }

    /// The cluster's folder: certificates, and per broker its `server.properties`,
    /// `broker.log`, `format.log` and data.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Broker>> {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `kafka-storage format` for every broker at once, with the cluster id and the
    /// SCRAM users.
    fn format_storage(&self) {
        let cluster_id = random_cluster_id();
        let configs: Vec<(PathBuf, PathBuf)> = self
            .lock()
            .iter()
            .map(|b| (b.config_path(), b.dir.join("format.log")))
            .collect();
        let mut scram = Vec::new();
        for user in USERS {
            for mechanism in [SaslMechanism::ScramSha512, SaslMechanism::ScramSha256] {
                scram.push("--add-scram".to_owned());
                scram.push(format!(
                    "{}=[name={},password={}]",
                    mechanism.name(),
                    user.name,
                    user.password
                ));
            }
        }
        std::thread::scope(|scope| {
            let runs: Vec<_> = configs
                .iter()
                .map(|(config, log)| {
                    let scram = &scram;
                    let cluster_id = &cluster_id;
                    scope.spawn(move || {
                        let log_file = File::create(log).expect("cannot create format.log");
                        let status = Command::new("java")
                            .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
                            .args(&self.class_archive)
                            .arg("-cp")
                            .arg(self.dist.classpath())
                            .arg("kafka.tools.StorageTool")
                            .args(["format", "--cluster-id", cluster_id, "--config"])
                            .arg(config)
                            .args(scram)
                            .stdin(Stdio::null())
                            .stdout(log_file.try_clone().expect("cannot share format.log"))
                            .stderr(log_file)
                            .status();
                        (log, status)
                    })
                })
                .collect();
            for run in runs {
                let (log, status) = run.join().expect("a format thread panicked");
                match status {
                    Ok(status) if status.success() => {}
                    Ok(status) => panic!(
                        "kafka-storage format failed ({status}); {}:\n{}",
                        log.display(),
                        tail(log, 40)
                    ),
                    Err(e) => panic!("cannot run `java` (Java 17 is needed for Kafka): {e}"),
                }
            }
        });
    }

    fn spawn(&self, nodes: &mut [Broker], index: usize) {
        let broker = &mut nodes[index];
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(broker.log_path())
            .expect("cannot open broker.log");
        broker.log_start = log.metadata().map_or(0, |m| m.len());
        let _ = std::io::Write::write_all(
            &mut log,
            format!("===== fastkafka-test-support: starting broker {index}\n").as_bytes(),
        );
        let mut command = Command::new("java");
        command
            .args(&self.jvm_options)
            .args(&self.class_archive)
            .args([
                "-Djava.awt.headless=true",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
            ])
            .arg("-cp")
            .arg(self.dist.classpath())
            .arg("kafka.Kafka")
            .arg(broker.config_path())
            .current_dir(&broker.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot share broker.log"))
            .stderr(log);
        let child = self
            .launcher
            .spawn(command)
            .unwrap_or_else(|e| panic!("cannot run `java` (Java 17 is needed for Kafka): {e}"));
        broker.child = Some(child);
    }

    /// Waits until every broker of `indexes` is in the metadata a client gets; fails
    /// early, with its log, when one exits.
    fn wait_until_serving(&self, indexes: &[usize], deadline: Instant) -> Result<(), StartFailure> {
        let consumer = self.metadata_client();
        loop {
            for &index in indexes {
                let exited = {
                    let mut nodes = self.lock();
                    match nodes[index].child.as_mut() {
                        Some(child) => child.try_wait().ok().flatten(),
                        None => panic!("broker {index} is not running"),
                    }
                };
                if let Some(status) = exited {
                    let log = std::fs::read_to_string(self.log_path(index)).unwrap_or_default();
                    return Err(StartFailure {
                        message: format!(
                            "Kafka broker {index} exited before it served ({status}); {}:\n{}",
                            self.log_path(index).display(),
                            self.log_tail(index, 60)
                        ),
                        port_taken: log.contains("Address already in use"),
                    });
                }
            }
            // The broker says it has started (after the controller unfenced it), and
            // clients see it: right after a kill the metadata may still list the dead
            // broker, so the metadata alone would pass too early.
            let said_started = indexes.iter().all(|&i| {
                let (log, start) = {
                    let nodes = self.lock();
                    (nodes[i].log_path(), nodes[i].log_start)
                };
                read_from(&log, start).contains("Kafka Server started")
            });
            if said_started {
                if let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(2)) {
                    let serving: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
                    if indexes.iter().all(|&i| serving.contains(&(i as i32))) {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                let mut logs = String::new();
                for &index in indexes {
                    let _ = write!(
                        logs,
                        "\n--- broker {index} ({}):\n{}",
                        self.log_path(index).display(),
                        self.log_tail(index, 30)
                    );
                }
                return Err(StartFailure {
                    message: format!(
                        "Kafka brokers {indexes:?} did not serve within {} s{logs}",
                        START_TIMEOUT.as_secs()
                    ),
                    port_taken: false,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A client for metadata only, on the PLAINTEXT listener.
    fn metadata_client(&self) -> BaseConsumer {
        self.client_config(Listener::Plaintext)
            .set("log_level", "0") // refused connections while brokers start are expected
            .create()
            .expect("cannot create a metadata client")
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl KafkaCluster {
    /// Kills every JVM and removes the cluster's folder, or keeps it, with a line saying
    /// where, when the thread panics (a failing test) or `$FASTKAFKA_KEEP_KAFKA` is set;
    /// a failing test also gets the end of each broker's log.
    fn shut_down(&self) {
        let panicking = std::thread::panicking();
        let mut nodes = self.lock();
        for broker in nodes.iter_mut() {
            if let Some(mut child) = broker.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if panicking {
            for (index, broker) in nodes.iter().enumerate() {
                eprintln!(
                    "--- Kafka broker {index}, end of {}:\n{}",
                    broker.log_path().display(),
                    tail(&broker.log_path(), 40)
                );
            }
        }
        drop(nodes);
        let dir = self.dir.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(dir) = dir {
            if panicking || std::env::var_os("FASTKAFKA_KEEP_KAFKA").is_some() {
                eprintln!("Kafka cluster folder kept: {}", dir.keep().display());
            }
        }
    }
}

/// The cluster [`KafkaCluster::shared`] started, or why it could not.
static SHARED: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();

impl KafkaCluster {
    /// A 3-broker cluster shared by the tests of one test binary: started by the first
    /// caller, stopped when the process exits. For tests that do not stop brokers; a test
    /// that does takes the cluster exclusively (an `RwLock` in the test file, say) and
    /// restarts them before it returns.
    ///
    /// Prints, past the harness's capture, how long the start took and the brokers'
    /// memory, and their memory again at exit. Panics as [`start`](Self::start) does;
    /// once the start has failed, every later call panics at once with the same message.
    pub fn shared() -> &'static KafkaCluster {
        let shared = SHARED.get_or_init(|| {
            let started = std::panic::catch_unwind(|| KafkaCluster::start(3)).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into())
            });
            if let Ok(cluster) = &started {
                extern "C" fn shut_down_shared() {
                    if let Some(Ok(cluster)) = SHARED.get() {
                        let _ = writeln!(std::io::stderr(), "at exit: {}", cluster.describe());
                        cluster.shut_down();
                    }
                }
                // SAFETY: registers a plain function without arguments.
                unsafe { libc::atexit(shut_down_shared) };
                let _ = writeln!(std::io::stderr(), "{}", cluster.describe());
            }
            started
        });
        match shared {
            Ok(cluster) => cluster,
            Err(message) => panic!("the shared Kafka cluster did not start: {message}"),
        }
    }

    /// One line on the cluster: version, brokers, start time and each JVM's memory.
    pub fn describe(&self) -> String {
        let rss: Vec<String> = self
            .rss_bytes()
            .iter()
            .map(|r| r.map_or("-".into(), |b| format!("{} MiB", b >> 20)))
            .collect();
        format!(
            "Apache Kafka {} cluster: {} brokers started in {:.1} s, RSS {}",
            crate::KAFKA_VERSION,
            self.broker_count(),
            self.started_in.as_secs_f64(),
            rss.join(" / ")
        )
    }
}

fn server_properties(
    id: usize,
    brokers: usize,
    ports: &Ports,
    voters: &str,
    dir: &Path,
    certs: &Certificates,
) -> String {
    let replicas = brokers.min(3);
    let min_isr = brokers.min(2);
    let plain_users: String = USERS
        .iter()
        .map(|u| format!(" user_{}=\"{}\"", u.name, u.password))
        .collect();
    format!(
        "\
process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{plaintext},SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl_ssl},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{plaintext},SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl_ssl}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}

ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
# OAUTHBEARER with Kafka's default server callback, which accepts unsecured JWTs
# (alg none, the principal in `sub`): enough to test a client's token function.
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required{plain_users};

default.replication.factor={replicas}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replicas}
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}

# Smaller than production, for a test machine: fewer internal partitions to create and
# load, fewer threads, a small log-cleaner buffer.
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6
share.coordinator.state.topic.num.partitions=6
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.dedupe.buffer.size=4194304
",
        plaintext = ports.plaintext,
        ssl = ports.ssl,
        sasl_ssl = ports.sasl_ssl,
        controller = ports.controller,
        data = dir.join("data").display(),
        keystore = certs.broker_keystore_pem.display(),
    )
}

fn jvm_options() -> Vec<String> {
    match std::env::var(JVM_OPTIONS_VAR) {
        Ok(options) if !options.trim().is_empty() => {
            options.split_whitespace().map(str::to_owned).collect()
        }
        _ => DEFAULT_JVM_OPTIONS.iter().map(|&o| o.to_owned()).collect(),
    }
}

/// Four distinct free ports per broker, all held open at once so none repeats.
fn free_ports(brokers: usize) -> Vec<Ports> {
    let listeners: Vec<TcpListener> = (0..brokers * 4)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("no free loopback port"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound port").port())
        .collect();
    ports
        .chunks(4)
        .map(|p| Ports {
            plaintext: p[0],
            ssl: p[1],
            sasl_ssl: p[2],
            controller: p[3],
        })
        .collect()
}

/// A KRaft cluster id: 16 random bytes in URL-safe base64 without padding, not starting
/// with `-` (which the storage tool would take for an option).
fn random_cluster_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    bytes[0] &= 0x7f; // first character in A..f
    base64_url(&bytes)
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn rss_bytes_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The text of the file at `path` from byte `start` on; empty when it cannot be read.
fn read_from(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        for _ in 0..100 {
            let id = random_cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'), "{id}");
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
        assert_ne!(random_cluster_id(), random_cluster_id());
    }

    #[test]
    fn base64_url_matches_the_rfc_4648_vectors() {
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foob"), "Zm9vYg");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }
}
