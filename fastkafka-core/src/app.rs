//! The app: its description, its brokers, its client settings and its lifespan hooks.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::embedded::EmbeddedBroker;
use crate::error::{BoxError, Error, IntoTaskResult, NameList, Result};
use crate::partition::KeylessStrategy;
use crate::partition::PartitionerFn;
use crate::producer::{DeliveryHook, DeliveryReport};
use crate::security::{is_secret_property, OAuth, OAuthHook, Security, TokenProvider, REDACTED};

/// A lifespan hook: runs once, before producers start or after they stop.
pub(crate) type Hook = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), BoxError>> + Send>;

/// A fastkafka app: what it is called, which brokers it knows, and how it starts and stops.
///
/// The producer, consumer and background functions are not listed here: annotating them
/// with `#[produces]`, `#[consumes]` or `#[run_in_background]` registers them.
///
/// ```
/// use fastkafka::{Broker, FastKafka};
///
/// let app = FastKafka::builder()
///     .title("Demo Kafka producer app")
///     .version("0.1.0")
///     .broker("demo_broker", Broker::new("localhost", 9092).description("local demo kafka broker"))
///     .build();
/// assert_eq!(app.title(), "Demo Kafka producer app");
/// ```
pub struct FastKafka {
    pub(crate) info: AppInfo,
    pub(crate) brokers: Vec<(String, Broker)>,
    pub(crate) default_broker: Option<String>,
    pub(crate) producer_config: Vec<(String, String)>,
    pub(crate) consumer_config: Vec<(String, String)>,
    pub(crate) startup: Option<Hook>,
    pub(crate) shutdown: Option<Hook>,
    pub(crate) shutdown_grace: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) topics: Vec<(String, i32)>,
    pub(crate) replication_factor: Option<i32>,
    pub(crate) partitioner: Option<PartitionerFn>,
    pub(crate) keyless: KeylessStrategy,
    pub(crate) on_delivery: Option<DeliveryHook>,
    pub(crate) group_id: Option<String>,
}

/// The app's description, shown in its AsyncAPI docs.
#[derive(Debug, Clone, Default)]
pub struct AppInfo {
    /// Title.
    pub title: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Contact: name, url, email.
    pub contact: Option<Contact>,
}

/// Who to contact about the app.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    /// Name of the person or team.
    pub name: String,
    /// A URL.
    pub url: Option<String>,
    /// An email address.
    pub email: Option<String>,
}

impl FastKafka {
    /// Starts describing an app.
    pub fn builder() -> FastKafkaBuilder {
        FastKafkaBuilder {
            app: FastKafka {
                info: AppInfo {
                    title: "FastKafka app".into(),
                    version: "0.1.0".into(),
                    description: String::new(),
                    contact: None,
                },
                brokers: Vec::new(),
                default_broker: None,
                producer_config: Vec::new(),
                consumer_config: Vec::new(),
                startup: None,
                shutdown: None,
                shutdown_grace: Duration::from_secs(10),
                flush_timeout: Duration::from_secs(30),
                startup_timeout: None,
                topics: Vec::new(),
                replication_factor: None,
                partitioner: None,
                keyless: KeylessStrategy::default(),
                on_delivery: None,
                group_id: None,
            },
        }
    }

    /// The app's title.
    pub fn title(&self) -> &str {
        &self.info.title
    }

    /// The app's description (title, version, description, contact).
    pub fn info(&self) -> &AppInfo {
        &self.info
    }

    /// The named brokers, in the order they were added.
    pub fn brokers(&self) -> impl Iterator<Item = (&str, &Broker)> {
        self.brokers.iter().map(|(n, b)| (n.as_str(), b))
    }

    /// The topics the app declares with [`FastKafkaBuilder::topic`], with their
    /// partition counts.
    pub fn declared_topics(&self) -> &[(String, i32)] {
        &self.topics
    }

    /// The replication factor of the topics the app creates, set with
    /// [`FastKafkaBuilder::replication_factor`]; `None`: the broker's default.
    pub fn replication_factor(&self) -> Option<i32> {
        self.replication_factor
    }

    /// What the app creates at start when missing: the declared topics, and the
    /// dead-letter topic of every `#[consumes(dead_letter = "...")]` that follows
    /// `--kafka-broker` (with one partition, unless declared otherwise), so that the
    /// first undecodable message does not wait on a broker that does not create topics
    /// on first use.
    pub fn topics_to_create(&self) -> Vec<(String, i32)> {
        let mut topics = self.topics.clone();
        for spec in crate::consumer::registered() {
            if let (Some(dlq), None) = (spec.dead_letter, spec.broker) {
                if !topics.iter().any(|(t, _)| t == dlq) {
                    topics.push((dlq.to_string(), 1));
                }
            }
        }
        topics
    }

    /// The consumer group of every `#[consumes]` function that does not name its own:
    /// the one set with [`FastKafkaBuilder::group_id`], else derived from the title
    /// (`"Demo app"` gives `demo-app`). One group per app means that N workers share
    /// the partitions instead of each processing every message.
    pub fn group_id(&self) -> String {
        self.group_id.clone().unwrap_or_else(|| {
            let slug: String = self
                .info
                .title
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let slug: Vec<&str> = slug.split('-').filter(|s| !s.is_empty()).collect();
            if slug.is_empty() {
                "fastkafka-app".to_string()
            } else {
                slug.join("-")
            }
        })
    }

    /// The broker used when `--kafka-broker` is not given: the one set with
    /// [`FastKafkaBuilder::default_broker`], else `localhost`.
    pub fn default_broker(&self) -> &str {
        self.default_broker.as_deref().unwrap_or("localhost")
    }

    /// Resolves what `--kafka-broker NAME` means for this app.
    ///
    /// `NAME` is a broker the app names, `embedded` (an in-process broker started for this
    /// run), a `HOST:PORT` bootstrap address, or `localhost` (`localhost:9092`, unless the
    /// app names its own `localhost`).
    pub(crate) fn resolve_broker(&self, name: &str) -> Result<ResolvedBroker> {
        if let Some((_, broker)) = self.brokers.iter().find(|(n, _)| n == name) {
            let mut properties = broker.properties.clone();
            if let Some(prefix) = &broker.env_prefix {
                properties.extend(crate::security::sasl_from_env(name, prefix)?);
            }
            crate::security::check_broker(name, &properties, broker.oauth.is_some())?;
            return Ok(ResolvedBroker {
                name: name.to_string(),
                bootstrap: broker.bootstrap(),
                properties,
                oauth: OAuthHook(broker.oauth.clone()),
                embedded: None,
            });
        }
        match name {
            "embedded" => {
                let embedded = EmbeddedBroker::start()?;
                Ok(ResolvedBroker {
                    name: name.to_string(),
                    bootstrap: embedded.bootstrap_servers().to_string(),
                    properties: Vec::new(),
                    oauth: OAuthHook::default(),
                    embedded: Some(embedded),
                })
            }
            "localhost" => Ok(ResolvedBroker::plain(name, "localhost:9092")),
            _ if looks_like_bootstrap(name) => Ok(ResolvedBroker::plain(name, name)),
            _ => {
                let known: Vec<&str> = self.brokers.iter().map(|(n, _)| n.as_str()).collect();
                Err(Error::UnknownBroker {
                    name: name.to_string(),
                    known: NameList(&known).to_string(),
                })
            }
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

/// A broker the app runs against, after `--kafka-broker` was resolved.
pub(crate) struct ResolvedBroker {
    pub(crate) name: String,
    pub(crate) bootstrap: String,
    pub(crate) properties: Vec<(String, String)>,
    /// The OAUTHBEARER token function, wired into every client of this broker.
    pub(crate) oauth: OAuthHook,
    /// Kept alive for the run when the broker is the embedded one.
    pub(crate) embedded: Option<EmbeddedBroker>,
}

impl ResolvedBroker {
    /// Whether this is fastkafka's embedded broker: started for this run, started by
    /// this process (tests), or started by `fastkafka run` for its workers.
    pub(crate) fn is_embedded(&self) -> bool {
        self.embedded.is_some()
            || crate::embedded::is_in_process(&self.bootstrap)
            || std::env::var(crate::embedded::EMBEDDED_BROKER_ENV)
                .is_ok_and(|b| b == self.bootstrap)
    }

    fn plain(name: &str, bootstrap: &str) -> Self {
        ResolvedBroker {
            name: name.to_string(),
            bootstrap: bootstrap.to_string(),
            properties: Vec::new(),
            oauth: OAuthHook::default(),
            embedded: None,
        }
    }
}

/// Builds a [`FastKafka`] app.
pub struct FastKafkaBuilder {
    app: FastKafka,
}

impl FastKafkaBuilder {
    /// The app's title (AsyncAPI `info.title`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.app.info.title = title.into();
        self
    }

    /// The app's version (AsyncAPI `info.version`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.app.info.version = version.into();
        self
    }

    /// The app's description (AsyncAPI `info.description`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.app.info.description = description.into();
        self
    }

    /// Who to contact about the app.
    pub fn contact(mut self, contact: Contact) -> Self {
        self.app.info.contact = Some(contact);
        self
    }

    /// Names a broker; `fastkafka run --kafka-broker NAME` picks it at run time.
    /// Adding a name twice replaces the first.
    pub fn broker(mut self, name: impl Into<String>, broker: Broker) -> Self {
        let name = name.into();
        self.app.brokers.retain(|(n, _)| *n != name);
        self.app.brokers.push((name, broker));
        self
    }

    /// The broker used when none is given on the command line (default: `localhost`).
    pub fn default_broker(mut self, name: impl Into<String>) -> Self {
        self.app.default_broker = Some(name.into());
        self
    }

    /// Sets a librdkafka producer property for every producer of the app, e.g.
    /// `("linger.ms", "5")` or `("acks", "all")`. See librdkafka's CONFIGURATION.md.
    pub fn producer_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.producer_config.push((key.into(), value.into()));
        self
    }

    /// The consumer group of the app's consumers (default: derived from the title).
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.app.group_id = Some(group_id.into());
        self
    }

    /// Sets a librdkafka consumer property for every consumer of the app.
    pub fn consumer_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.consumer_config.push((key.into(), value.into()));
        self
    }

    /// Runs `hook` once at start, before producers and background tasks start
    /// (FastKafka's `lifespan`, first half). An error stops the app from starting.
    pub fn on_startup<F, Fut, R>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskResult,
    {
        self.app.startup = Some(boxed_hook(hook));
        self
    }

    /// Runs `hook` once at the end, after background tasks stopped and producers
    /// were flushed (FastKafka's `lifespan`, second half).
    pub fn on_shutdown<F, Fut, R>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskResult,
    {
        self.app.shutdown = Some(boxed_hook(hook));
        self
    }

    /// How long background tasks get to finish after SIGINT/SIGTERM (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.app.shutdown_grace = grace;
        self
    }

    /// How long shutdown waits for queued messages to be acknowledged (default 30 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.app.flush_timeout = timeout;
        self
    }

    /// How long the app waits at start for its broker to answer, when it has topics
    /// to check or create. By default it waits as long as it takes, saying once that
    /// the broker cannot be reached and then every 30 s, as producers do: an app
    /// started before its broker (a supervisor, a compose file, a reboot) comes up
    /// when the broker does. With a timeout, the start fails after it with
    /// [`Error::Config`] naming the broker.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = fastkafka::FastKafka::builder()
    ///     .topic("orders", 6)
    ///     .startup_timeout(Duration::from_secs(60))
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.app.startup_timeout = Some(timeout);
        self
    }

    /// Declares a topic the app needs, with its partition count. At start, a declared
    /// topic that does not exist yet is created (on a real broker with the replication
    /// factor set with [`FastKafkaBuilder::replication_factor`], else the broker's
    /// default); one that exists is left as it is.
    ///
    /// Without a declaration, a topic is created on first use with the broker's
    /// default partition count (3 on the embedded broker), if the broker allows it.
    /// Dead-letter topics are created at start like declared ones (see
    /// [`FastKafka::topics_to_create`]); declare one to choose its partition count.
    pub fn topic(mut self, name: impl Into<String>, partitions: i32) -> Self {
        let name = name.into();
        self.app.topics.retain(|(n, _)| *n != name);
        self.app.topics.push((name, partitions));
        self
    }

    /// The replication factor of every topic the app creates at start (the declared
    /// topics and the dead-letter topics, see [`FastKafka::topics_to_create`]): how many
    /// brokers keep a copy of each partition. Without it, the broker's
    /// `default.replication.factor` applies (1 unless the cluster sets it).
    ///
    /// In production, 3 with the topic's `min.insync.replicas` at 2 (the app produces
    /// with `acks=all`) keeps every acknowledged message through the loss of one broker
    /// (see `docs/production.md`). A cluster with fewer brokers than this refuses to
    /// create the topic and the app stops at start, saying so; a topic that exists is
    /// left as it is. The embedded broker is a single broker and ignores it.
    ///
    /// ```
    /// use fastkafka::prelude::*;
    ///
    /// let app = FastKafka::builder()
    ///     .topic("orders", 6)
    ///     .replication_factor(3)
    ///     .build();
    /// assert_eq!(app.replication_factor(), Some(3));
    /// ```
    pub fn replication_factor(mut self, replicas: i32) -> Self {
        self.app.replication_factor = Some(replicas);
        self
    }

    /// A custom partitioner for every producer function of the app that does not name
    /// its own (`#[produces(partitioner = path)]`). A result outside
    /// `0..partition_count` is an error returned to the caller; nothing is sent.
    pub fn partitioner(mut self, partitioner: PartitionerFn) -> Self {
        self.app.partitioner = Some(partitioner);
        self
    }

    /// Where keyless messages go, for every producer function that does not choose
    /// (`#[produces(keyless = "round_robin")]`). Default: [`KeylessStrategy::Sticky`].
    pub fn keyless_strategy(mut self, strategy: KeylessStrategy) -> Self {
        self.app.keyless = strategy;
        self
    }

    /// Calls `hook` with every message's delivery report, delivered or failed, on the
    /// producer's delivery thread: keep it short (log, count), never block in it.
    ///
    /// ```
    /// let app = fastkafka::FastKafka::builder()
    ///     .on_delivery(|report| match report.error {
    ///         None => println!("Produced record to topic {} partition [{}] @ offset {}",
    ///             report.topic, report.partition, report.offset),
    ///         Some(e) => println!("Failed to deliver message: {e}"),
    ///     })
    ///     .build();
    /// # let _ = app;
    /// ```
    pub fn on_delivery(
        mut self,
        hook: impl Fn(&DeliveryReport<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.app.on_delivery = Some(std::sync::Arc::new(hook));
        self
    }

    /// Finishes the app.
    pub fn build(self) -> FastKafka {
        self.app
    }
}

fn boxed_hook<F, Fut, R>(hook: F) -> Hook
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoTaskResult,
{
    Box::new(move || Box::pin(async move { hook().await.into_task_result() }))
}

/// A Kafka broker (cluster) the app can run against.
///
/// ```
/// use fastkafka::{Broker, Security};
///
/// // SASL_SSL with SCRAM-SHA-512, as on MSK, Aiven or a company cluster.
/// let broker = Broker::new("kafka.internal", 9093)
///     .description("production cluster")
///     .security(Security::SaslSsl {
///         mechanism: "SCRAM-SHA-512".into(),
///         username: "app".into(),
///         password: "secret".into(),
///     })
///     .ca_file("/etc/ssl/kafka-ca.pem") // omit to trust the system's CAs
///     .property("client.id", "orders-service");
/// assert_eq!(broker.bootstrap(), "kafka.internal:9093");
/// // Debug output (and so any log line) never shows a credential.
/// assert!(!format!("{broker:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct Broker {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// What the broker is, for the docs.
    pub description: String,
    /// Extra librdkafka properties for every client talking to this broker.
    pub properties: Vec<(String, String)>,
    /// The OAUTHBEARER token function of [`OAuth::Callback`].
    oauth: Option<TokenProvider>,
    /// The prefix of [`Broker::sasl_from_env`], read when the app starts.
    env_prefix: Option<String>,
}

impl Broker {
    /// A broker at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Broker {
            host: host.into(),
            port,
            description: String::new(),
            properties: Vec::new(),
            oauth: None,
            env_prefix: None,
        }
    }

    /// Describes the broker (shown in the docs).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets any librdkafka property for clients of this broker (see librdkafka's
    /// CONFIGURATION.md).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.properties.retain(|(k, _)| *k != key);
        self.properties.push((key, value.into()));
        self
    }

    /// Sets how clients authenticate: `security.protocol`, the SASL mechanism and its
    /// credentials, or an OAUTHBEARER token source. Checked when the app starts: an
    /// unknown mechanism, or GSSAPI without the `gssapi` feature, stops the start with
    /// a message that says what to change.
    pub fn security(mut self, security: Security) -> Self {
        for (key, value) in crate::security::properties(&security) {
            self = self.property(key, value);
        }
        self.oauth = match security {
            Security::OAuthBearer(OAuth::Callback(provider)) => Some(provider),
            _ => None,
        };
        self
    }

    /// Trusts the CA certificates in this PEM file for the broker's certificate
    /// (`ssl.ca.location`), instead of the system's CA store.
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Self {
        self.property("ssl.ca.location", path.as_ref().display().to_string())
    }

    /// Trusts these PEM CA certificates for the broker's certificate (`ssl.ca.pem`).
    pub fn ca_pem(self, pem: impl Into<String>) -> Self {
        self.property("ssl.ca.pem", pem)
    }

    /// Mutual TLS: presents this certificate (PEM file) and proves it with this private
    /// key (PEM file; `ssl.certificate.location`, `ssl.key.location`). A key file with a
    /// passphrase also needs [`Broker::key_password`].
    pub fn client_certificate(
        self,
        certificate: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Self {
        self.property(
            "ssl.certificate.location",
            certificate.as_ref().display().to_string(),
        )
        .property("ssl.key.location", key.as_ref().display().to_string())
    }

    /// Mutual TLS with the certificate and private key given as PEM text
    /// (`ssl.certificate.pem`, `ssl.key.pem`), e.g. read from a secret store.
    pub fn client_certificate_pem(
        self,
        certificate: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        self.property("ssl.certificate.pem", certificate)
            .property("ssl.key.pem", key)
    }

    /// The passphrase of the client's private key (`ssl.key.password`).
    pub fn key_password(self, password: impl Into<String>) -> Self {
        self.property("ssl.key.password", password)
    }

    /// SASL credentials from the environment, read when the app starts (not when it is
    /// built: `APP asyncapi` and `fastkafka docs` need none):
    ///
    /// | variable | |
    /// |---|---|
    /// | `{PREFIX}_USERNAME` | required |
    /// | `{PREFIX}_PASSWORD` | required |
    /// | `{PREFIX}_MECHANISM` | `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (default) |
    ///
    /// A missing variable stops the start with an error that names it. Unless
    /// [`Broker::security`] chose `SaslPlaintext`, the connection is SASL_SSL.
    ///
    /// ```
    /// use fastkafka::Broker;
    ///
    /// // ORDERS_KAFKA_USERNAME, ORDERS_KAFKA_PASSWORD, ORDERS_KAFKA_MECHANISM
    /// let broker = Broker::new("kafka.internal", 9093).sasl_from_env("ORDERS_KAFKA");
    /// # let _ = broker;
    /// ```
    pub fn sasl_from_env(mut self, prefix: impl Into<String>) -> Self {
        let plaintext = self
            .properties
            .iter()
            .any(|(k, v)| k == "security.protocol" && v.eq_ignore_ascii_case("sasl_plaintext"));
        if !plaintext {
            self = self.property("security.protocol", "sasl_ssl");
        }
        self.env_prefix = Some(prefix.into());
        self
    }

    /// `host:port`, as `bootstrap.servers` wants it.
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The prefix given to [`Broker::sasl_from_env`], if any.
    pub fn env_prefix(&self) -> Option<&str> {
        self.env_prefix.as_deref()
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_property(k) { REDACTED } else { v };
                (k.as_str(), shown)
            })
            .collect();
        let mut d = f.debug_struct("Broker");
        d.field("host", &self.host)
            .field("port", &self.port)
            .field("description", &self.description)
            .field("properties", &properties);
        if self.oauth.is_some() {
            d.field("oauth", &"Callback(..)");
        }
        if let Some(prefix) = &self.env_prefix {
            d.field("sasl_from_env", prefix);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> FastKafka {
        FastKafka::builder()
            .broker("demo_broker", Broker::new("kafka1", 9092))
            .broker("other", Broker::new("kafka2", 9093).property("acks", "1"))
            .build()
    }

    #[test]
    fn named_brokers_resolve_to_their_address_and_properties() {
        let b = app().resolve_broker("other").unwrap();
        assert_eq!(b.bootstrap, "kafka2:9093");
        assert_eq!(b.properties, vec![("acks".to_string(), "1".to_string())]);
    }

    #[test]
    fn unknown_broker_names_list_the_known_ones() {
        let err = app().resolve_broker("prod").err().unwrap().to_string();
        assert!(err.contains("unknown Kafka broker `prod`"), "{err}");
        assert!(err.contains("`demo_broker`, `other`"), "{err}");
        assert!(err.contains("HOST:PORT"), "{err}");
    }

    #[test]
    fn the_default_group_comes_from_the_title() {
        let app = FastKafka::builder()
            .title("Demo Kafka  producer app!")
            .build();
        assert_eq!(app.group_id(), "demo-kafka-producer-app");
        assert_eq!(
            FastKafka::builder().title("***").build().group_id(),
            "fastkafka-app"
        );
        assert_eq!(FastKafka::builder().group_id("g1").build().group_id(), "g1");
    }

    #[test]
    fn debug_output_shows_no_credentials() {
        let security = Security::SaslSsl {
            mechanism: "SCRAM-SHA-512".into(),
            username: "orders".into(),
            password: "hunter2-sasl".into(),
        };
        let shown = format!("{security:?}");
        assert_eq!(
            shown,
            r#"SaslSsl { mechanism: "SCRAM-SHA-512", username: "orders", password: "<redacted>" }"#
        );
        let broker = Broker::new("kafka.internal", 9093)
            .security(security)
            .property("ssl.key.password", "hunter2-key")
            .property("ssl.key.pem", "-----BEGIN PRIVATE KEY----- hunter2")
            .property("sasl.oauthbearer.client.secret", "hunter2-oauth")
            .property("client.id", "orders-service");
        let shown = format!("{broker:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains(r#"("sasl.password", "<redacted>")"#),
            "{shown}"
        );
        // What is not a credential stays readable.
        assert!(shown.contains(r#"("sasl.username", "orders")"#), "{shown}");
        assert!(
            shown.contains(r#"("client.id", "orders-service")"#),
            "{shown}"
        );
        assert!(!is_secret_property("sasl.oauthbearer.token.endpoint.url"));
        assert!(!is_secret_property("ssl.certificate.pem"));
    }

    #[test]
    fn plain_addresses_and_localhost_need_no_name() {
        assert_eq!(
            app().resolve_broker("10.0.0.1:9092").unwrap().bootstrap,
            "10.0.0.1:9092"
        );
        assert_eq!(
            app().resolve_broker("a:1,b:2").unwrap().bootstrap,
            "a:1,b:2"
        );
        assert_eq!(
            app().resolve_broker("localhost").unwrap().bootstrap,
            "localhost:9092"
        );
        assert!(app().resolve_broker("host:notaport").is_err());
    }
}
