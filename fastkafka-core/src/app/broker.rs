//! The brokers an app names, and what `--kafka-broker NAME` resolves to.

use super::FastKafka;
use crate::client::ResolvedBroker;
use crate::embedded::EmbeddedBroker;
use crate::error::{Error, QuotedNames, Result};
use crate::protocol::BrokerName;
use crate::security::{is_secret_property, OAuth, OAuthHook, Security, TokenProvider, REDACTED};

impl FastKafka {
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
        match BrokerName::of(name, self.brokers.iter().map(|(n, _)| n.as_str())) {
            BrokerName::Embedded => {
                let embedded = EmbeddedBroker::start()?;
                Ok(ResolvedBroker {
                    name: name.to_string(),
                    bootstrap: embedded.bootstrap_servers().to_string(),
                    properties: Vec::new(),
                    oauth: OAuthHook::default(),
                    embedded: Some(embedded),
                })
            }
            BrokerName::Localhost => Ok(ResolvedBroker::plain(name, "localhost:9092")),
            BrokerName::Bootstrap => Ok(ResolvedBroker::plain(name, name)),
            // Named brokers were resolved above.
            BrokerName::Named | BrokerName::Unknown => {
                let known: Vec<&str> = self.brokers.iter().map(|(n, _)| n.as_str()).collect();
                Err(Error::UnknownBroker {
                    name: name.to_string(),
                    known: QuotedNames(&known).to_string(),
                    needed_by: None,
                })
            }
        }
    }
}

/// A Kafka broker (cluster) the app can run against.
///
/// A cluster of several nodes is one `Broker` with each node's address: clients try
/// them in turn for their first contact, so the app starts while any one is up. Every
/// message of fastkafka and the AsyncAPI document (one server per address) show them all.
///
/// ```
/// use fastkafka::Broker;
///
/// let cluster = Broker::new("kafka1.internal", 9092)
///     .address("kafka2.internal", 9092)
///     .address("kafka3.internal", 9092);
/// assert_eq!(
///     cluster.bootstrap(),
///     "kafka1.internal:9092,kafka2.internal:9092,kafka3.internal:9092"
/// );
/// ```
///
/// ```
/// use fastkafka::security::Security;
/// use fastkafka::Broker;
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
    /// Host name (of the first address, if there are several).
    pub host: String,
    /// Port (of the first address).
    pub port: u16,
    /// The addresses after the first, from [`Broker::address`].
    more: Vec<(String, u16)>,
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
            more: Vec::new(),
            description: String::new(),
            properties: Vec::new(),
            oauth: None,
            env_prefix: None,
        }
    }

    /// Adds another address of the same cluster to try at the first contact (its
    /// `bootstrap.servers` list), after `host:port` and the addresses added before.
    /// Give two or three nodes, so that the app starts while one of them is down; the
    /// client learns the other nodes from the cluster itself.
    ///
    /// ```
    /// use fastkafka::Broker;
    ///
    /// let broker = Broker::new("kafka1", 9092).address("kafka2", 9092);
    /// assert_eq!(broker.addresses(), ["kafka1:9092", "kafka2:9092"]);
    /// ```
    pub fn address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.more.push((host.into(), port));
        self
    }

    /// Every address clients try at the first contact, as `host:port`: the one of
    /// [`Broker::new`] and those of [`Broker::address`], or, when the broker sets the
    /// `bootstrap.servers` property itself, the addresses that lists.
    pub fn addresses(&self) -> Vec<String> {
        let set = self
            .properties
            .iter()
            .rev()
            .find(|(k, _)| k == "bootstrap.servers");
        match set {
            Some((_, list)) => list
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect(),
            None => std::iter::once((&self.host, self.port))
                .chain(self.more.iter().map(|(h, p)| (h, *p)))
                .map(|(host, port)| format!("{host}:{port}"))
                .collect(),
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

    /// Every address, comma-separated, as `bootstrap.servers` wants it:
    /// `host:port[,host:port...]` (see [`Broker::addresses`]).
    pub fn bootstrap(&self) -> String {
        self.addresses().join(",")
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
        d.field("host", &self.host).field("port", &self.port);
        if !self.more.is_empty() {
            d.field("more_addresses", &self.more);
        }
        d.field("description", &self.description)
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
    fn a_broker_with_several_addresses_resolves_to_all_of_them() {
        let app = FastKafka::builder()
            .broker(
                "cluster",
                Broker::new("kafka1", 9092)
                    .address("kafka2", 9093)
                    .address("kafka3", 9094),
            )
            .broker(
                "by_property",
                Broker::new("ignored", 1).property("bootstrap.servers", "a:1, b:2"),
            )
            .build();
        let b = app.resolve_broker("cluster").unwrap();
        assert_eq!(b.bootstrap, "kafka1:9092,kafka2:9093,kafka3:9094");
        // A list set as a property is the one shown, since it is the one used.
        let b = app.resolve_broker("by_property").unwrap();
        assert_eq!(b.bootstrap, "a:1,b:2");
    }

    #[test]
    fn unknown_broker_names_list_the_known_ones() {
        let err = app().resolve_broker("prod").err().unwrap().to_string();
        assert!(err.contains("unknown Kafka broker `prod`"), "{err}");
        assert!(err.contains("`demo_broker`, `other`"), "{err}");
        assert!(err.contains("HOST:PORT"), "{err}");
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
