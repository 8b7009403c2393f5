//! A real Apache Kafka cluster for a test: KRaft, each node both broker and controller,
//! on loopback ports, with PLAINTEXT, SSL and SASL_SSL listeners.
//!
//! - `mod.rs`: [`KafkaCluster`], its start (with a retry on a port taken), its brokers'
//!   processes (kill, stop, restart) and its shut-down;
//! - `client.rs`: listeners, users and the client side (bootstrap, configs, readers,
//!   leaders);
//! - `logs.rs`: diagnostics (start time, memory, broker logs);
//! - `config.rs`: `server.properties`, JVM options, ports and the cluster id, all pure.
//!
//! The binary's shared cluster, [`KafkaCluster::shared`], is in `shared.rs`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;

use self::client::USERS;
use self::config::{free_ports, jvm_options, random_cluster_id, server_properties, Ports};
use self::logs::{read_from, tail};
use crate::certs::Certificates;
use crate::class_archive::class_archive;
use crate::dist::KafkaDist;
use crate::launcher::Launcher;

mod client;
mod config;
mod logs;

pub use self::client::{Listener, SaslMechanism, User, ADMIN, ALICE};
pub use self::config::{DEFAULT_JVM_OPTIONS, JVM_OPTIONS_VAR};

/// How long a cluster, or one restarted broker, may take to serve before the test fails.
/// Generous: three JVMs starting at once on a 2-core machine that other builds share.
const START_TIMEOUT: Duration = Duration::from_secs(180);

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

    /// The number of brokers, running or not.
    pub fn broker_count(&self) -> usize {
        self.lock().len()
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
    pub(crate) fn shut_down(&self) {
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
