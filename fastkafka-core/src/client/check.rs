//! The first contact with a broker: the connection check at start, which stops the
//! app at once when the broker refuses it (credentials, TLS, SASL mechanism): retrying
//! cannot fix those, and an app that waits on them looks alive while it does nothing.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::broker::ResolvedBroker;
use super::config::config_for;
use super::context::{ClientCtx, CONNECT_LOG_TARGET};
use super::log::{warn_unreachable, ClientLog, Unreachable};
use crate::error::{Error, Result};

/// How long the check waits for the broker's metadata before it lets the app start
/// anyway (an unreachable broker is not a refusal: librdkafka keeps retrying, and
/// queued messages wait).
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

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
    // Distinct addresses: one listed twice fails (and is reported) once.
    let addresses = broker
        .bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
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
                    target: CONNECT_LOG_TARGET,
                    broker = broker.name,
                    bootstrap = %bootstrap,
                    "no answer from the Kafka broker at {bootstrap} within {} s (a wrong address, or a firewall that drops the connection?); the app starts anyway, librdkafka keeps retrying and queued messages wait",
                    limit.as_secs()
                );
            }
            warn_unreachable(&broker.name, &failures);
            Ok(Reach::Unreachable)
        }
    }
}

/// What the blocking part of [`check`] found.
enum Found {
    Answered,
    Refused(String),
    Unreachable(Vec<Unreachable>),
}
