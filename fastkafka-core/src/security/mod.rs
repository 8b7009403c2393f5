//! How clients authenticate to a broker: [`Security`] (TLS, SASL), [`OAuth`] for
//! OAUTHBEARER tokens from librdkafka's OIDC client ([`Oidc`]) or from a function of the
//! app ([`TokenProvider`], returning an [`OAuthToken`]). Give them to a broker with
//! [`Broker::security`](crate::Broker::security):
//!
//! ```
//! use fastkafka::security::Security;
//! use fastkafka::Broker;
//!
//! let broker = Broker::new("kafka.internal", 9093).security(Security::SaslSsl {
//!     mechanism: "SCRAM-SHA-512".into(),
//!     username: "app".into(),
//!     password: "secret".into(),
//! });
//! # let _ = broker;
//! ```
//!
//! Inside the crate, the checks that keep a client's configuration from failing late
//! live here too: `oauth` holds where OAUTHBEARER tokens come from, `checks` what is
//! refused or adjusted before a client exists (SASL mechanisms, the producer settings
//! fastkafka does not support), `env` credentials read from the environment.

mod checks;
mod env;
mod oauth;

pub(crate) use self::checks::{check_broker, check_producer};
pub(crate) use self::env::{sasl_from_env, DEFAULT_ENV_MECHANISM};
pub(crate) use self::oauth::OAuthHook;
pub use self::oauth::{OAuth, Oidc, TokenProvider};
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
