//! The first contact with a broker: a client context for the app's short-lived clients
//! (admin, metadata), and the connection check at start, which stops the app at once
//! when the broker refuses it (credentials, TLS, SASL mechanism): retrying cannot fix
//! those, and an app that waits on them looks alive while it does nothing.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, ClientContext};

use crate::app::ResolvedBroker;
use crate::client_log::ClientLog;
use crate::error::{Error, Result};
use crate::security::OAuthHook;

/// How long the check waits for the broker's metadata before it lets the app start
/// anyway (an unreachable broker is not a refusal: librdkafka keeps retrying, and
/// queued messages wait).
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The context of a client that needs no delivery reports or rebalances: logs, errors
/// and OAUTHBEARER tokens.
pub(crate) struct ClientCtx {
    pub(crate) log: ClientLog,
    pub(crate) oauth: OAuthHook,
}

/// Implements librdkafka's `ClientContext` for a context type with a `log: ClientLog`
/// and an `oauth: OAuthHook` field: logs through the first, OAUTHBEARER tokens from the
/// second. Every client context of the app (producer, consumer, start-up clients) is
/// one.
macro_rules! logged_client_context {
    ($context:ty) => {
        impl rdkafka::ClientContext for $context {
            const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

            fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
                self.log.log(level, fac, message);
            }

            fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
                self.log.error(error, reason);
            }

            fn generate_oauth_token(
                &self,
                config: Option<&str>,
            ) -> std::result::Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
                self.oauth.token(config)
            }
        }
    };
}
pub(crate) use logged_client_context;

logged_client_context!(ClientCtx);

/// Gives `client` its first OAUTHBEARER token from the app's token function, for a
/// client whose main queue nothing polls (an admin client, a metadata probe): the
/// token request librdkafka queues there would wait forever. Does nothing without a
/// token function.
pub(crate) fn seed_token<C: ClientContext>(client: &rdkafka::client::Client<C>, oauth: &OAuthHook) {
    if oauth.0.is_none() {
        return;
    }
    let token = match oauth.token(None) {
        Ok(token) => token,
        Err(_) => return, // logged by the hook; the client reports the refusal
    };
    let (Ok(value), Ok(principal)) = (
        std::ffi::CString::new(token.token),
        std::ffi::CString::new(token.principal_name),
    ) else {
        tracing::error!("the OAUTHBEARER token or principal contains a NUL byte");
        return;
    };
    let mut errstr = [0 as std::ffi::c_char; 512];
    // SAFETY: the client pointer is alive for this call; the strings are NUL-terminated
    // and outlive it; no extensions (null, 0); errstr is writable for its length.
    let code = unsafe {
        rdkafka_sys::rd_kafka_oauthbearer_set_token(
            client.native_ptr(),
            value.as_ptr(),
            token.lifetime_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if code != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into errstr.
        let why = unsafe { std::ffi::CStr::from_ptr(errstr.as_ptr()) }.to_string_lossy();
        tracing::error!(error = %why, "librdkafka refused the OAUTHBEARER token");
    }
}

impl rdkafka::consumer::ConsumerContext for ClientCtx {}

/// A client configuration for `broker`: its address and properties.
pub(crate) fn config_for(broker: &ResolvedBroker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &broker.bootstrap);
    for (k, v) in &broker.properties {
        config.set(k, v);
    }
    config
}

/// What the connection check found, when the broker did not refuse the app.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The broker answered.
    Answered,
    /// No bootstrap address answered: each failed (a name that does not resolve, a
    /// closed port), or none answered within [`CHECK_TIMEOUT`]. Already logged.
    Unreachable,
}

/// Asks `broker` for its metadata. Returns an error naming the broker and the cause
/// when the broker refuses the client (wrong credentials, an untrusted certificate, a
/// SASL mechanism it does not offer, a security protocol that does not match the
/// port). When it cannot be reached, warns once per bootstrap address with what failed
/// there and returns [`Reach::Unreachable`]: as soon as every address has failed
/// (usually within milliseconds), or after [`CHECK_TIMEOUT`] when none answers at all.
pub(crate) async fn check(
    broker: &ResolvedBroker,
    startup_timeout: Option<Duration>,
) -> Result<Reach> {
    let limit = startup_timeout.map_or(CHECK_TIMEOUT, |t| t.min(CHECK_TIMEOUT));
    if broker.is_embedded() {
        return Ok(Reach::Answered);
    }
    let addresses = broker
        .bootstrap
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .count()
        .max(1);
    let mut config = config_for(broker);
    config.set("allow.auto.create.topics", "false");
    let context = ClientCtx {
        // Quiet: what it finds is the app's error, said once.
        log: ClientLog::quiet(format!("connection check for broker {}", broker.name)),
        oauth: broker.oauth.clone(),
    };
    let name = broker.name.clone();
    let bootstrap = broker.bootstrap.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<Found> {
        let client: Arc<BaseConsumer<ClientCtx>> = Arc::new(
            config
                .create_with_context(context)
                .map_err(|source| Error::Client {
                    what: format!("connection check's client for broker `{name}`"),
                    source,
                })?,
        );
        let (tx, rx) = mpsc::channel();
        let fetcher = Arc::clone(&client);
        std::thread::spawn(move || {
            let _ = tx.send(fetcher.fetch_metadata(None, limit).is_ok());
        });
        let deadline = Instant::now() + limit + Duration::from_secs(1);
        let log = &client.context().log;
        // Polling serves the error events (where a refusal or a failed connection
        // shows) and token refreshes.
        while Instant::now() < deadline {
            let _ = client.poll(Duration::from_millis(50));
            if let Some(refused) = log.refused() {
                return Ok(Found::Refused(refused));
            }
            match rx.try_recv() {
                Ok(true) => return Ok(Found::Answered),
                Ok(false) | Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            // Every address failed once: librdkafka goes on retrying them, and waiting
            // longer would only delay the warning (and the start).
            if log.unreachable().len() >= addresses {
                break;
            }
        }
        let _ = client.poll(Duration::ZERO);
        Ok(match log.refused() {
            Some(refused) => Found::Refused(refused),
            None => Found::Unreachable(log.take_unreachable()),
        })
    })
    .await
    .map_err(|e| Error::panicked("connection check", e))??;
    match found {
        Found::Answered => Ok(Reach::Answered),
        Found::Refused(cause) => Err(Error::Connect {
            broker: broker.name.clone(),
            bootstrap,
            cause,
        }),
        Found::Unreachable(failures) => {
            if failures.is_empty() {
                tracing::warn!(
                    broker = broker.name,
                    bootstrap = %bootstrap,
                    "no answer from the Kafka broker at {bootstrap} within {} s (a wrong address, or a firewall that drops the connection?); the app starts anyway, librdkafka keeps retrying and queued messages wait",
                    limit.as_secs()
                );
            }
            crate::client_log::warn_unreachable(&broker.name, &failures);
            Ok(Reach::Unreachable)
        }
    }
}

/// What the blocking part of [`check`] found.
enum Found {
    Answered,
    Refused(String),
    Unreachable(Vec<crate::client_log::Unreachable>),
}
