//! What a broker is started with: its `server.properties`, JVM options, ports and the
//! cluster id. Pure functions, unit-tested below.

use std::net::TcpListener;
use std::path::Path;

use super::client::{Listener, USERS};
use crate::certs::Certificates;

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

#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    pub(super) plaintext: u16,
    pub(super) ssl: u16,
    pub(super) sasl_ssl: u16,
    pub(super) controller: u16,
}

impl Ports {
    pub(super) fn of(&self, listener: Listener) -> u16 {
        match listener {
            Listener::Plaintext => self.plaintext,
            Listener::Ssl => self.ssl,
            Listener::SaslSsl => self.sasl_ssl,
        }
    }
}

pub(super) fn server_properties(
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

pub(super) fn jvm_options() -> Vec<String> {
    match std::env::var(JVM_OPTIONS_VAR) {
        Ok(options) if !options.trim().is_empty() => {
            options.split_whitespace().map(str::to_owned).collect()
        }
        _ => DEFAULT_JVM_OPTIONS.iter().map(|&o| o.to_owned()).collect(),
    }
}

/// Four distinct free ports per broker, all held open at once so none repeats.
pub(super) fn free_ports(brokers: usize) -> Vec<Ports> {
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
pub(super) fn random_cluster_id() -> String {
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
