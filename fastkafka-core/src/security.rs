//! How clients authenticate to a broker, and the checks that keep a client's
//! configuration from failing late: TLS, SASL, OAUTHBEARER tokens, credentials from the
//! environment, and the producer settings fastkafka does not support.

use std::sync::Arc;

use crate::error::{BoxError, Error, Result};

pub use rdkafka::client::OAuthToken;

/// How clients authenticate to a broker; set it with
/// [`Broker::security`](crate::Broker::security). Its `Debug` output shows no password,
/// secret or token.
///
/// The TLS variants verify the broker's certificate against the system's CA store unless
/// the broker is given its own CA ([`Broker::ca_file`](crate::Broker::ca_file),
/// [`Broker::ca_pem`](crate::Broker::ca_pem)); a client certificate for mutual TLS comes
/// from [`Broker::client_certificate`](crate::Broker::client_certificate).
#[derive(Clone)]
#[non_exhaustive]
pub enum Security {
    /// No TLS, no authentication.
    Plaintext,
    /// TLS; with a client certificate, mutual TLS (the broker's `X509` scheme).
    Ssl,
    /// SASL over plaintext: the password (PLAIN) travels unencrypted; for test clusters.
    SaslPlaintext {
        /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `GSSAPI` (Kerberos, with the
        /// `gssapi` feature).
        mechanism: String,
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// SASL over TLS: what managed clusters use (MSK, Confluent Cloud, Aiven, ...).
    SaslSsl {
        /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `GSSAPI` (Kerberos, with the
        /// `gssapi` feature). For `OAUTHBEARER` use [`Security::OAuthBearer`].
        mechanism: String,
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// SASL/OAUTHBEARER over TLS, with tokens from librdkafka's OIDC client or from a
    /// function of the app.
    OAuthBearer(OAuth),
}

/// Where OAUTHBEARER tokens come from.
#[derive(Clone)]
#[non_exhaustive]
pub enum OAuth {
    /// librdkafka's own OIDC client: the client-credentials grant against the identity
    /// provider's token endpoint, refreshed before each token expires.
    Oidc(Oidc),
    /// A function of the app, called for the first token and whenever the current one
    /// nears its expiry (see [`OAuth::callback`]).
    Callback(TokenProvider),
}

/// An OIDC client-credentials setup (librdkafka's `sasl.oauthbearer.method=oidc`).
///
/// ```
/// use fastkafka::{Broker, OAuth, Oidc, Security};
///
/// let broker = Broker::new("kafka.example.com", 9092).security(Security::OAuthBearer(
///     OAuth::Oidc(Oidc::new(
///         "https://login.example.com/oauth2/token",
///         "orders-service",
///         "client-secret-from-the-vault",
///     )
///     .scope("kafka")),
/// ));
/// assert!(!format!("{broker:?}").contains("client-secret-from-the-vault"));
/// ```
#[derive(Clone)]
pub struct Oidc {
    /// `sasl.oauthbearer.token.endpoint.url`.
    pub token_endpoint: String,
    /// `sasl.oauthbearer.client.id`.
    pub client_id: String,
    /// `sasl.oauthbearer.client.secret`.
    pub client_secret: String,
    /// `sasl.oauthbearer.scope`, if the provider wants one.
    pub scope: Option<String>,
    /// `sasl.oauthbearer.extensions` (`key=value,...`; Confluent Cloud wants
    /// `logicalCluster=lkc-...,identityPoolId=pool-...`).
    pub extensions: Option<String>,
}

impl Oidc {
    /// A client-credentials setup without scope or extensions.
    pub fn new(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Oidc {
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: None,
            extensions: None,
        }
    }

    /// Sets the scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the SASL extensions (`key=value,...`).
    pub fn extensions(mut self, extensions: impl Into<String>) -> Self {
        self.extensions = Some(extensions.into());
        self
    }
}

/// A function that makes OAUTHBEARER tokens: given librdkafka's
/// `sasl.oauthbearer.config` (if set), it returns a token, the principal it stands for,
/// and when it expires (milliseconds since the Unix epoch). librdkafka calls it again at
/// 80% of the token's lifetime. It runs on a client's polling thread: it may block for
/// the length of an HTTP request, not longer.
pub type TokenProvider =
    Arc<dyn Fn(Option<&str>) -> std::result::Result<OAuthToken, BoxError> + Send + Sync>;

impl OAuth {
    /// Tokens from `provider`, for an identity provider librdkafka's OIDC client does not
    /// speak (AWS MSK IAM, a company token service, ...).
    ///
    /// ```
    /// use fastkafka::{Broker, OAuth, OAuthToken, Security};
    ///
    /// let broker = Broker::new("kafka.example.com", 9092).security(Security::OAuthBearer(
    ///     OAuth::callback(|_config| {
    ///         let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    ///         Ok(OAuthToken {
    ///             token: "a-token-from-my-provider".into(),
    ///             principal_name: "orders-service".into(),
    ///             lifetime_ms: expires.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64,
    ///         })
    ///     }),
    /// ));
    /// # let _ = broker;
    /// ```
    pub fn callback(
        provider: impl Fn(Option<&str>) -> std::result::Result<OAuthToken, BoxError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        OAuth::Callback(Arc::new(provider))
    }
}

/// What `Debug` shows in place of a credential.
pub(crate) const REDACTED: &str = "<redacted>";

/// Whether a librdkafka property holds a credential: a password, a secret, a
/// passphrase, a token, a private key or an OAUTHBEARER configuration.
pub(crate) fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "passphrase", "token"]
        .iter()
        .any(|word| key.contains(word) && !key.ends_with(".url") && !key.ends_with(".ms"))
        || (key.contains("key") && (key.ends_with(".pem") || key.ends_with(".der")))
        || key == "sasl.oauthbearer.config"
        || key == "sasl.jaas.config"
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, mechanism, username) = match self {
            Security::Plaintext => return f.write_str("Plaintext"),
            Security::Ssl => return f.write_str("Ssl"),
            Security::OAuthBearer(oauth) => {
                return f.debug_tuple("OAuthBearer").field(oauth).finish()
            }
            Security::SaslPlaintext {
                mechanism,
                username,
                ..
            } => ("SaslPlaintext", mechanism, username),
            Security::SaslSsl {
                mechanism,
                username,
                ..
            } => ("SaslSsl", mechanism, username),
        };
        f.debug_struct(name)
            .field("mechanism", mechanism)
            .field("username", username)
            .field("password", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuth::Oidc(oidc) => f.debug_tuple("Oidc").field(oidc).finish(),
            OAuth::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("scope", &self.scope)
            .field("extensions", &self.extensions.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// The librdkafka properties of a [`Security`] (the callback of
/// [`OAuth::Callback`] is kept apart: it is no property).
pub(crate) fn properties(security: &Security) -> Vec<(&'static str, String)> {
    let sasl = |protocol: &'static str, mechanism: &str, username: &str, password: &str| {
        vec![
            ("security.protocol", protocol.to_string()),
            ("sasl.mechanism", mechanism.to_string()),
            ("sasl.username", username.to_string()),
            ("sasl.password", password.to_string()),
        ]
    };
    match security {
        Security::Plaintext => vec![("security.protocol", "plaintext".into())],
        Security::Ssl => vec![("security.protocol", "ssl".into())],
        Security::SaslPlaintext {
            mechanism,
            username,
            password,
        } => sasl("sasl_plaintext", mechanism, username, password),
        Security::SaslSsl {
            mechanism,
            username,
            password,
        } => sasl("sasl_ssl", mechanism, username, password),
        Security::OAuthBearer(oauth) => {
            let mut properties = vec![
                ("security.protocol", "sasl_ssl".to_string()),
                ("sasl.mechanism", "OAUTHBEARER".to_string()),
            ];
            if let OAuth::Oidc(oidc) = oauth {
                properties.extend([
                    ("sasl.oauthbearer.method", "oidc".to_string()),
                    (
                        "sasl.oauthbearer.token.endpoint.url",
                        oidc.token_endpoint.clone(),
                    ),
                    ("sasl.oauthbearer.client.id", oidc.client_id.clone()),
                    ("sasl.oauthbearer.client.secret", oidc.client_secret.clone()),
                ]);
                if let Some(scope) = &oidc.scope {
                    properties.push(("sasl.oauthbearer.scope", scope.clone()));
                }
                if let Some(extensions) = &oidc.extensions {
                    properties.push(("sasl.oauthbearer.extensions", extensions.clone()));
                }
            }
            properties
        }
    }
}

/// The SASL mechanisms this build of librdkafka offers.
const MECHANISMS: &[&str] = &[
    "PLAIN",
    "SCRAM-SHA-256",
    "SCRAM-SHA-512",
    "OAUTHBEARER",
    "GSSAPI",
];

/// Refuses, before any client exists, a broker configuration that cannot work: an
/// unknown SASL mechanism, GSSAPI in a build without Kerberos, OAUTHBEARER without a
/// source of tokens.
pub(crate) fn check_broker(
    broker: &str,
    properties: &[(String, String)],
    has_token_provider: bool,
) -> Result<()> {
    let get = |key: &str| {
        properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let protocol = get("security.protocol")
        .unwrap_or("plaintext")
        .to_ascii_lowercase();
    if !protocol.starts_with("sasl") {
        return Ok(());
    }
    let mechanism = get("sasl.mechanism")
        .unwrap_or("GSSAPI")
        .to_ascii_uppercase();
    if !MECHANISMS.contains(&mechanism.as_str()) {
        return Err(Error::Config(format!(
            "broker `{broker}`: unknown SASL mechanism `{mechanism}`; use one of {}",
            MECHANISMS.join(", ")
        )));
    }
    if mechanism == "GSSAPI" && !cfg!(feature = "gssapi") {
        return Err(Error::Config(format!(
            "broker `{broker}`: SASL mechanism GSSAPI (Kerberos) is not in this build; enable the \
             `gssapi` feature of fastkafka (`fastkafka = {{ version = \"...\", features = [\"gssapi\"] }}`, \
             which needs libsasl2 and its headers: `apt-get install libsasl2-dev`), or choose \
             another mechanism{}",
            if get("sasl.mechanism").is_none() {
                " (GSSAPI is librdkafka's default when security.protocol is SASL and sasl.mechanism is not set)"
            } else {
                ""
            }
        )));
    }
    if mechanism == "OAUTHBEARER"
        && !has_token_provider
        && !get("sasl.oauthbearer.method").is_some_and(|m| m.eq_ignore_ascii_case("oidc"))
        && !get("enable.sasl.oauthbearer.unsecure.jwt").is_some_and(|v| v == "true")
    {
        return Err(Error::Config(format!(
            "broker `{broker}`: SASL mechanism OAUTHBEARER needs a source of tokens: \
             Security::OAuthBearer(OAuth::Oidc(..)) for an OIDC token endpoint, or \
             Security::OAuthBearer(OAuth::callback(..)) for tokens from the app"
        )));
    }
    Ok(())
}

/// What fastkafka does with a producer configuration (the broker's properties, then
/// the app's producer config): refuses `transactional.id` (transactions are not
/// supported), and with `acks` other than `all` turns idempotence off, which needs
/// `acks=all`, with one warning. Returns the properties to add.
pub(crate) fn check_producer(
    broker: &str,
    config: &rdkafka::ClientConfig,
    idempotence_set_by_user: bool,
) -> Result<Vec<(&'static str, &'static str)>> {
    if config.get("transactional.id").is_some() {
        return Err(Error::Config(format!(
            "producer for broker `{broker}`: `transactional.id` is set, but fastkafka does not \
             support Kafka transactions yet (every send would fail); remove `transactional.id` \
             from the producer config and the broker's properties. Producers are idempotent \
             (enable.idempotence=true): a retry never duplicates or reorders a message"
        )));
    }
    let acks = config
        .get("acks")
        .unwrap_or("all")
        .trim()
        .to_ascii_lowercase();
    if matches!(acks.as_str(), "all" | "-1") {
        return Ok(Vec::new());
    }
    let idempotent = config
        .get("enable.idempotence")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if idempotent && idempotence_set_by_user {
        return Err(Error::Config(format!(
            "producer for broker `{broker}`: `acks={acks}` and `enable.idempotence=true` do not go \
             together (idempotence needs acks=all); set `acks` to `all`, or remove \
             `enable.idempotence`"
        )));
    }
    if idempotent {
        tracing::warn!(
            broker,
            acks,
            "acks is not `all`, so this producer is not idempotent: idempotence needs acks=all, \
             so fastkafka turned enable.idempotence off; a retry may now duplicate or reorder \
             messages, and with acks=0 or 1 an acknowledged message can be lost when a broker \
             fails. Set acks=all to keep both"
        );
        return Ok(vec![("enable.idempotence", "false")]);
    }
    Ok(Vec::new())
}

/// Where [`Broker::sasl_from_env`](crate::Broker::sasl_from_env) reads credentials:
/// `{PREFIX}_USERNAME`, `{PREFIX}_PASSWORD` (both required) and `{PREFIX}_MECHANISM`
/// (optional, default `SCRAM-SHA-512`).
pub(crate) fn sasl_from_env(broker: &str, prefix: &str) -> Result<Vec<(String, String)>> {
    let read = |suffix: &str| std::env::var(format!("{prefix}_{suffix}"));
    let required = |suffix: &str| {
        read(suffix).map_err(|e| {
            let why = match e {
                std::env::VarError::NotPresent => "is not set",
                std::env::VarError::NotUnicode(_) => "is not valid UTF-8",
            };
            Error::Config(format!(
                "broker `{broker}`: environment variable {prefix}_{suffix} {why}; \
                 Broker::sasl_from_env(\"{prefix}\") reads {prefix}_USERNAME, {prefix}_PASSWORD \
                 and optionally {prefix}_MECHANISM (default SCRAM-SHA-512)"
            ))
        })
    };
    let username = required("USERNAME")?;
    let password = required("PASSWORD")?;
    let mechanism = read("MECHANISM")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENV_MECHANISM.to_string());
    Ok(vec![
        (
            "sasl.mechanism".into(),
            mechanism.trim().to_ascii_uppercase(),
        ),
        ("sasl.username".into(), username),
        ("sasl.password".into(), password),
    ])
}

/// The mechanism of [`sasl_from_env`] when `{PREFIX}_MECHANISM` is not set.
pub(crate) const DEFAULT_ENV_MECHANISM: &str = "SCRAM-SHA-512";

/// The librdkafka context's share of OAUTHBEARER: the app's token function, if any.
#[derive(Clone, Default)]
pub(crate) struct OAuthHook(pub(crate) Option<TokenProvider>);

impl OAuthHook {
    /// What `ClientContext::generate_oauth_token` answers.
    pub(crate) fn token(
        &self,
        config: Option<&str>,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        match &self.0 {
            Some(provider) => provider(config).map_err(|e| {
                tracing::error!(error = %e, "the OAUTHBEARER token function failed; librdkafka asks again in 10 s");
                e as Box<dyn std::error::Error>
            }),
            None => Err("no OAUTHBEARER token function: use Security::OAuthBearer(OAuth::callback(..)) or OAuth::Oidc".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn gssapi_without_the_feature_says_how_to_enable_it() {
        let result = check_broker(
            "corp",
            &props(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "GSSAPI"),
            ]),
            false,
        );
        if cfg!(feature = "gssapi") {
            result.unwrap();
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("broker `corp`"), "{err}");
            assert!(err.contains("`gssapi` feature"), "{err}");
            assert!(err.contains("libsasl2"), "{err}");
        }
        let err = check_broker(
            "corp",
            &props(&[
                ("security.protocol", "sasl_ssl"),
                ("sasl.mechanism", "SCRAM-SHA-1"),
            ]),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown SASL mechanism `SCRAM-SHA-1`"),
            "{err}"
        );
        for mechanism in ["PLAIN", "scram-sha-256", "SCRAM-SHA-512"] {
            check_broker(
                "corp",
                &props(&[
                    ("security.protocol", "sasl_ssl"),
                    ("sasl.mechanism", mechanism),
                ]),
                false,
            )
            .unwrap();
        }
    }

    #[test]
    fn oauthbearer_needs_a_source_of_tokens() {
        let oauth = props(&[
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ]);
        let err = check_broker("cloud", &oauth, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a source of tokens"), "{err}");
        check_broker("cloud", &oauth, true).unwrap();
        let oidc: Vec<(String, String)> = properties(&Security::OAuthBearer(OAuth::Oidc(
            Oidc::new("https://idp/token", "id", "hunter2").scope("kafka"),
        )))
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        check_broker("cloud", &oidc, false).unwrap();
        assert!(oidc.contains(&("sasl.oauthbearer.method".into(), "oidc".into())));
        assert!(oidc.contains(&("sasl.oauthbearer.scope".into(), "kafka".into())));
    }

    #[test]
    fn transactions_are_refused_and_weaker_acks_turn_idempotence_off() {
        let config = |pairs: &[(&str, &str)]| {
            let mut c = rdkafka::ClientConfig::new();
            c.set("enable.idempotence", "true");
            for (k, v) in pairs {
                c.set(*k, *v);
            }
            c
        };
        let err = check_producer("prod", &config(&[("transactional.id", "tx-1")]), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`transactional.id`"), "{err}");
        assert!(err.contains("does not support Kafka transactions"), "{err}");
        assert_eq!(
            check_producer("prod", &config(&[("acks", "1")]), false).unwrap(),
            vec![("enable.idempotence", "false")]
        );
        assert!(check_producer("prod", &config(&[("acks", "all")]), false)
            .unwrap()
            .is_empty());
        assert!(check_producer("prod", &config(&[("acks", "-1")]), false)
            .unwrap()
            .is_empty());
        let err = check_producer("prod", &config(&[("acks", "0")]), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("set `acks` to `all`"), "{err}");
    }

    #[test]
    fn credentials_from_the_environment_name_the_missing_variable() {
        // Variables unique to this test: tests run in parallel in one process.
        std::env::set_var("FK_TEST_ENV_A_USERNAME", "orders");
        let err = sasl_from_env("prod", "FK_TEST_ENV_A")
            .unwrap_err()
            .to_string();
        assert!(err.contains("FK_TEST_ENV_A_PASSWORD is not set"), "{err}");
        assert!(err.contains("broker `prod`"), "{err}");
        std::env::set_var("FK_TEST_ENV_A_PASSWORD", "hunter2-env");
        let read = sasl_from_env("prod", "FK_TEST_ENV_A").unwrap();
        assert!(read.contains(&("sasl.mechanism".into(), "SCRAM-SHA-512".into())));
        assert!(read.contains(&("sasl.password".into(), "hunter2-env".into())));
        std::env::set_var("FK_TEST_ENV_A_MECHANISM", "plain");
        let read = sasl_from_env("prod", "FK_TEST_ENV_A").unwrap();
        assert!(read.contains(&("sasl.mechanism".into(), "PLAIN".into())));
    }
}
