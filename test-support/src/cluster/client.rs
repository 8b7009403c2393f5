//! The client side of a [`KafkaCluster`]: its listeners and users, `bootstrap.servers`,
//! client configs, readers and partition leaders.

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::KafkaCluster;

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

pub(super) const USERS: [User; 2] = [ADMIN, ALICE];

impl KafkaCluster {
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

    /// A client for metadata only, on the PLAINTEXT listener.
    pub(super) fn metadata_client(&self) -> BaseConsumer {
        self.client_config(Listener::Plaintext)
            .set("log_level", "0") // refused connections while brokers start are expected
            .create()
            .expect("cannot create a metadata client")
    }
}
