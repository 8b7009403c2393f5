//! A broker the app runs against, after `--kafka-broker` was resolved: the value every
//! client of the app is made from.

use crate::embedded::EmbeddedBroker;
use crate::security::OAuthHook;

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
            || std::env::var(crate::protocol::EMBEDDED_BROKER_ENV)
                .is_ok_and(|b| b == self.bootstrap)
    }

    /// A broker with no properties and no token function: `localhost`, `HOST:PORT`.
    pub(crate) fn plain(name: &str, bootstrap: &str) -> Self {
        ResolvedBroker {
            name: name.to_string(),
            bootstrap: bootstrap.to_string(),
            properties: Vec::new(),
            oauth: OAuthHook::default(),
            embedded: None,
        }
    }
}
