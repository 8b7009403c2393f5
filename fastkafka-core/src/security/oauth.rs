//! Where OAUTHBEARER tokens come from: the app's function or OIDC client credentials.

use std::sync::Arc;

use super::{OAuthToken, REDACTED};
use crate::error::BoxError;

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
/// use fastkafka::security::{OAuth, Oidc, Security};
/// use fastkafka::Broker;
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
    /// use fastkafka::security::{OAuth, OAuthToken, Security};
    /// use fastkafka::Broker;
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
