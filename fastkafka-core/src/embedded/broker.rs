//! [`EmbeddedBroker`], librdkafka's mock cluster with fastkafka's C shim
//! (`csrc/mock_cluster.c`), and [`KafkaRequest`] fault injection.

use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaType;
use rdkafka_sys as rdsys;

use crate::error::{Error, Result};
use crate::sync::LockUnpoisoned;

use super::DEFAULT_PARTITIONS;

/// How long a consumer group waits for more members before its first assignment.
/// librdkafka's mock cluster waits 3 s, which makes every test and quick start slow.
/// Too short costs more: an app's consumer functions are all members of its group, and
/// one whose join misses the first assignment rebalances the group again, during which
/// the mock cluster refuses every commit. At 100 ms that happened on a busy 2-core
/// machine; 500 ms leaves margin and is still a short wait.
const GROUP_INITIAL_REBALANCE_DELAY: Duration = Duration::from_millis(500);

/// The embedded brokers alive in this process, by bootstrap address, so that an app
/// started against one by address creates its declared topics directly, with their
/// exact partition counts, without an admin client round trip. Entries are removed before a cluster is destroyed,
/// under this lock.
static IN_PROCESS: std::sync::Mutex<Vec<(String, ClusterPtr)>> = std::sync::Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct ClusterPtr(NonNull<rdsys::rd_kafka_mock_cluster_t>);
// SAFETY: the mock cluster API is thread safe; the pointer is only used under IN_PROCESS's
// lock, while the cluster is alive.
unsafe impl Send for ClusterPtr {}

/// Whether an embedded broker of this process serves `bootstrap`.
pub(crate) fn is_in_process(bootstrap: &str) -> bool {
    let live = IN_PROCESS.lock_unpoisoned();
    live.iter().any(|(b, _)| b == bootstrap)
}

/// Creates `topic` on the in-process embedded broker at `bootstrap`; `None` when no
/// embedded broker of this process has that address.
pub(crate) fn create_topic_in_process(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Option<Result<()>> {
    let live = IN_PROCESS.lock_unpoisoned();
    let (_, cluster) = live.iter().find(|(b, _)| b == bootstrap)?;
    Some(create_topic_on(cluster.0, topic, partitions))
}

fn create_topic_on(
    cluster: NonNull<rdsys::rd_kafka_mock_cluster_t>,
    topic: &str,
    partitions: i32,
) -> Result<()> {
    let name = std::ffi::CString::new(topic)
        .map_err(|_| Error::Config(format!("topic name {topic:?} contains a NUL byte")))?;
    // SAFETY: the cluster is live (callers hold it or the registry lock) and the name is a
    // valid C string for the call.
    let err = unsafe {
        rdsys::rd_kafka_mock_topic_create(cluster.as_ptr(), name.as_ptr(), partitions, 1)
    };
    mock_result(
        err,
        &format!(
            "create topic `{topic}` with {}",
            crate::partition::PartitionCount(partitions)
        ),
    )
}

extern "C" {
    /// Sets the default partition count, installs the CreateTopics handler and lifts
    /// the retention limits (csrc/mock_cluster.c).
    fn fastkafka_mock_install(mcluster: *mut rdsys::rd_kafka_mock_cluster_t, partition_cnt: i32);
}

/// A kind of request a Kafka client sends, for [`EmbeddedBroker::fail_requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KafkaRequest {
    /// Writes records (producers).
    Produce,
    /// Reads records (consumers).
    Fetch,
    /// Looks up offsets by time or position.
    ListOffsets,
    /// Asks for brokers, topics and partitions.
    Metadata,
    /// Commits a consumer group's offsets.
    OffsetCommit,
    /// Reads a consumer group's committed offsets.
    OffsetFetch,
    /// Finds a group's coordinator.
    FindCoordinator,
    /// A member joins (or rejoins) its group.
    JoinGroup,
    /// A member tells its group it is alive.
    Heartbeat,
    /// A member leaves its group.
    LeaveGroup,
    /// Members receive their assignment.
    SyncGroup,
}

impl KafkaRequest {
    /// The request's key in the Kafka protocol.
    fn api_key(self) -> i16 {
        match self {
            KafkaRequest::Produce => 0,
            KafkaRequest::Fetch => 1,
            KafkaRequest::ListOffsets => 2,
            KafkaRequest::Metadata => 3,
            KafkaRequest::OffsetCommit => 8,
            KafkaRequest::OffsetFetch => 9,
            KafkaRequest::FindCoordinator => 10,
            KafkaRequest::JoinGroup => 11,
            KafkaRequest::Heartbeat => 12,
            KafkaRequest::LeaveGroup => 13,
            KafkaRequest::SyncGroup => 14,
        }
    }
}

/// A Kafka broker running inside this process, on a loopback port, keeping data in memory.
///
/// It is librdkafka's mock cluster: it speaks the Kafka protocol (produce, fetch,
/// consumer groups, idempotence) well enough for development and tests, with nothing
/// to install. Topics are created on first use with [`DEFAULT_PARTITIONS`] partitions,
/// or explicitly with [`EmbeddedBroker::create_topic`]. The broker stops when dropped.
///
/// ```
/// use fastkafka::embedded::EmbeddedBroker;
///
/// let broker = EmbeddedBroker::start()?;
/// broker.create_topic("orders", 6)?;
/// assert!(broker.bootstrap_servers().starts_with("127.0.0.1:"));
/// # Ok::<(), fastkafka::Error>(())
/// ```
pub struct EmbeddedBroker {
    cluster: NonNull<rdsys::rd_kafka_mock_cluster_t>,
    bootstrap: String,
    /// The fixed port's forwarder ([`EmbeddedBroker::listen_on`]), closed with the broker.
    forwarder: Option<Forwarder>,
    // The mock cluster lives on this client handle; it must outlive the cluster.
    _client: Client<DefaultClientContext>,
}

// SAFETY: the mock cluster's API is thread safe: every call posts an operation to the
// cluster's own thread and waits for it.
unsafe impl Send for EmbeddedBroker {}
// SAFETY: as above; no method needs exclusive access.
unsafe impl Sync for EmbeddedBroker {}

impl EmbeddedBroker {
    /// Starts a one-broker cluster whose new topics get [`DEFAULT_PARTITIONS`] partitions.
    pub fn start() -> Result<Self> {
        Self::with_partitions(DEFAULT_PARTITIONS)
    }

    /// Starts a one-broker cluster whose new topics get `partitions` partitions.
    pub fn with_partitions(partitions: i32) -> Result<Self> {
        if partitions < 1 {
            return Err(Error::Config(format!(
                "the embedded broker needs at least 1 partition per topic, got {partitions}"
            )));
        }
        let config = ClientConfig::new();
        let native = config.create_native_config()?;
        let client = Client::new(
            &config,
            native,
            RDKafkaType::RD_KAFKA_PRODUCER,
            DefaultClientContext,
        )?;
        // SAFETY: the client handle is valid and outlives the cluster (field order and Drop).
        let raw = unsafe { rdsys::rd_kafka_mock_cluster_new(client.native_ptr(), 1) };
        let cluster = NonNull::new(raw).ok_or_else(|| {
            Error::EmbeddedBroker("librdkafka could not start the embedded (mock) broker".into())
        })?;
        // SAFETY: `cluster` is a live mock cluster; both calls only set defaults and
        // handlers, before any client has connected to it.
        unsafe {
            fastkafka_mock_install(cluster.as_ptr(), partitions);
            rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(
                cluster.as_ptr(),
                GROUP_INITIAL_REBALANCE_DELAY.as_millis() as i32,
            );
        }
        // SAFETY: returns a NUL-terminated string owned by the cluster.
        let bootstrap = unsafe { CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(raw)) }
            .to_string_lossy()
            .into_owned();
        IN_PROCESS
            .lock_unpoisoned()
            .push((bootstrap.clone(), ClusterPtr(cluster)));
        Ok(EmbeddedBroker {
            cluster,
            bootstrap,
            forwarder: None,
            _client: client,
        })
    }

    /// The `bootstrap.servers` value that reaches this broker.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `topic` with `partitions` partitions. A topic that exists already
    /// (created by an earlier call or on first use) keeps its partitions and this
    /// returns an error saying so.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        create_topic_on(self.cluster, topic, partitions)
    }

    /// Delays every response of the broker by `rtt`, to see how an app behaves against a
    /// distant broker.
    pub fn set_round_trip_time(&self, rtt: Duration) -> Result<()> {
        // SAFETY: the cluster is live; broker 1 exists.
        let err = unsafe {
            rdsys::rd_kafka_mock_broker_set_rtt(self.cluster.as_ptr(), 1, rtt.as_millis() as i32)
        };
        mock_result(err, "set the round trip time")
    }

    /// Makes the next `count` produce requests fail with `error`, for fault tests.
    /// librdkafka retries retriable errors; a non-retriable one (e.g.
    /// `RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE`) fails the messages.
    pub fn fail_produce_requests(&self, count: usize, error: rdsys::rd_kafka_resp_err_t) {
        self.fail_requests(KafkaRequest::Produce, &vec![error; count]);
    }

    /// Answers the next `errors.len()` requests of kind `request`, from any client, with
    /// these errors in order, for fault tests: how does the app behave when the broker
    /// refuses a commit, or tells a member that its group is rebalancing?
    ///
    /// ```
    /// use fastkafka::rdkafka::types::RDKafkaRespErr;
    /// use fastkafka::embedded::{EmbeddedBroker, KafkaRequest};
    ///
    /// let broker = EmbeddedBroker::start()?;
    /// // The next heartbeat of any group member starts a rebalance.
    /// broker.fail_requests(
    ///     KafkaRequest::Heartbeat,
    ///     &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS],
    /// );
    /// # Ok::<(), fastkafka::Error>(())
    /// ```
    pub fn fail_requests(&self, request: KafkaRequest, errors: &[rdsys::rd_kafka_resp_err_t]) {
        // SAFETY: the cluster is live; the array outlives the call, which copies it.
        unsafe {
            rdsys::rd_kafka_mock_push_request_errors_array(
                self.cluster.as_ptr(),
                request.api_key(),
                errors.len(),
                errors.as_ptr(),
            )
        }
    }

    /// Forgets the errors [`fail_requests`](Self::fail_requests) queued for `request`
    /// and not yet served: the broker answers those requests normally again.
    pub fn clear_request_errors(&self, request: KafkaRequest) {
        // SAFETY: the cluster is live.
        unsafe {
            rdsys::rd_kafka_mock_clear_request_errors(self.cluster.as_ptr(), request.api_key())
        }
    }

    /// Serves the broker on `127.0.0.1:port` too, and makes that its advertised
    /// address, so clients can use a fixed, known port (`fastkafka broker --port 9092`).
    ///
    /// librdkafka's mock cluster always listens on a random port; a small forwarder on
    /// `port` relays each connection to it.
    pub fn listen_on(&mut self, port: u16) -> Result<()> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            Error::EmbeddedBroker(format!(
                "cannot listen on 127.0.0.1:{port}: {e}; choose another --port"
            ))
        })?;
        let target = self.bootstrap.clone();
        self.advertise("127.0.0.1", port)?;
        let mut live = IN_PROCESS.lock_unpoisoned();
        live.push((format!("127.0.0.1:{port}"), ClusterPtr(self.cluster)));
        drop(live);
        self.forwarder = Some(Forwarder::start(listener, target)?);
        self.bootstrap = format!("127.0.0.1:{port}");
        Ok(())
    }

    /// Makes the broker advertise `host:port` instead of its own listening address.
    fn advertise(&self, host: &str, port: u16) -> Result<()> {
        let host = std::ffi::CString::new(host)
            .map_err(|_| Error::Config("host name contains a NUL byte".into()))?;
        // SAFETY: the cluster is live; broker 1 exists (the cluster has one broker).
        unsafe {
            rdsys::rd_kafka_mock_broker_set_host_port(
                self.cluster.as_ptr(),
                1,
                host.as_ptr(),
                i32::from(port),
            )
        };
        Ok(())
    }
}

fn mock_result(err: rdsys::rd_kafka_resp_err_t, what: &str) -> Result<()> {
    if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(Error::EmbeddedBroker(format!(
            "the embedded broker could not {what}: {}",
            rdkafka::error::RDKafkaErrorCode::from(err)
        )))
    }
}

/// Relays connections from a fixed port to the mock cluster's random one. Dropping it
/// frees the port and cuts every relayed connection, as a stopped broker would.
struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Forwarder {
    fn start(listener: std::net::TcpListener, target: String) -> Result<Self> {
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (stop_flag, live) = (Arc::clone(&stop), Arc::clone(&connections));
        std::thread::Builder::new()
            .name("embedded-broker-forwarder".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(upstream) = std::net::TcpStream::connect(&target) else {
                        continue;
                    };
                    {
                        let mut live = live.lock_unpoisoned();
                        live.retain(|c| c.peer_addr().is_ok());
                        for s in [&client, &upstream] {
                            if let Ok(s) = s.try_clone() {
                                live.push(s);
                            }
                        }
                    }
                    std::thread::spawn(move || relay(client, upstream));
                }
            })?;
        Ok(Forwarder {
            port,
            stop,
            connections,
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees `stop` and drops the listener.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        for c in self.connections.lock_unpoisoned().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Copies bytes both ways between a client and the broker until either side closes.
fn relay(client: std::net::TcpStream, upstream: std::net::TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(mut client_read), Ok(mut upstream_read)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let (mut client_write, mut upstream_write) = (client, upstream);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        let mut live = IN_PROCESS.lock_unpoisoned();
        live.retain(|(_, c)| c.0 != self.cluster);
        drop(live);
        // The fixed port goes first, so that clients see the broker go away at once.
        self.forwarder = None;
        // SAFETY: created by rd_kafka_mock_cluster_new and destroyed exactly once, before
        // the client handle it lives on (dropped after this, as a field).
        unsafe { rdsys::rd_kafka_mock_cluster_destroy(self.cluster.as_ptr()) }
    }
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}
