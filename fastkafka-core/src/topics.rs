//! Declared topics: created at start when they do not exist yet.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

use crate::client::{ClientCtx, ClientLog, ResolvedBroker};
use crate::error::{Error, Result};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one metadata request may take while the app waits for its broker.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause between two metadata requests to a broker that did not answer.
const PROBE_PAUSE: Duration = Duration::from_millis(500);

/// Makes sure every declared topic exists on `broker`, waiting for the broker to
/// answer first (for at most `startup_timeout`, if given); a missing topic is created
/// with `replication_factor` replicas (`None`: the broker's default).
pub(crate) async fn ensure(
    broker: &ResolvedBroker,
    topics: &[(String, i32)],
    replication_factor: Option<i32>,
    startup_timeout: Option<Duration>,
) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    if let Some(replicas @ ..=0) = replication_factor {
        return Err(Error::Config(format!(
            "the replication factor is {replicas}; a topic needs at least 1 replica"
        )));
    }
    for (topic, partitions) in topics {
        if *partitions < 1 {
            return Err(Error::Config(format!(
                "topic `{topic}` is declared with {partitions} partitions; a topic needs at least 1"
            )));
        }
    }
    // The embedded broker of this run, or one this process started (tests): create the
    // topics directly in its mock cluster, no admin client needed. It is one broker:
    // the replication factor does not apply. (An embedded broker in another process
    // is reached like any broker, through its CreateTopics handler.)
    let create = |topic: &str, partitions: i32| match &broker.embedded {
        Some(embedded) => Some(embedded.create_topic(topic, partitions)),
        None => crate::embedded::create_topic_in_process(&broker.bootstrap, topic, partitions),
    };
    if broker.embedded.is_some() || crate::embedded::is_in_process(&broker.bootstrap) {
        for (topic, partitions) in topics {
            match create(topic, *partitions) {
                Some(Ok(())) => tracing::info!(topic, partitions, "created topic"),
                Some(Err(e)) if e.to_string().contains("already exists") => {}
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        return Ok(());
    }
    let config = crate::client::config_for(broker);
    let admin: AdminClient<ClientCtx> = config
        .create_with_context(client_ctx(broker, "admin client"))
        .map_err(|source| Error::Client {
            what: format!("admin client for broker `{}`", broker.name),
            source,
        })?;
    // An OAUTHBEARER token reaches a client when its main queue is polled: nothing
    // polls an admin client's, so it gets its first token here (it lives for seconds).
    crate::client::seed_token(admin.inner(), &broker.oauth);
    let metadata = wait_for_metadata(broker, &config, startup_timeout).await?;
    let mut missing = Vec::new();
    for (topic, partitions) in topics {
        match metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
        {
            Some(existing) if existing.partitions().len() as i32 != *partitions => tracing::warn!(
                topic,
                declared = partitions,
                actual = existing.partitions().len(),
                "topic exists with a different partition count than declared; leaving it as it is"
            ),
            Some(_) => {}
            None => missing.push(NewTopic::new(
                topic,
                *partitions,
                TopicReplication::Fixed(replication_factor.unwrap_or(-1)),
            )),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let options = AdminOptions::new()
        .operation_timeout(Some(ADMIN_TIMEOUT))
        .request_timeout(Some(ADMIN_TIMEOUT));
    let names: Vec<&str> = missing.iter().map(|t| t.name).collect();
    let results = admin.create_topics(&missing, &options).await.map_err(|e| {
        let hint = match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::OperationTimedOut) => format!(
                " (the broker at {} did not answer the request to create topics within {} s: it may not support creating topics through the admin API; \
                 create them with your Kafka tooling, e.g. `kafka-topics.sh --create --topic NAME --partitions N`, and start the app again)",
                broker.bootstrap,
                ADMIN_TIMEOUT.as_secs()
            ),
            _ => String::new(),
        };
        Error::Startup(format!("cannot create the topics {names:?}: {e}{hint}"))
    })?;
    let brokers = metadata.brokers().len();
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, replication_factor, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, RDKafkaErrorCode::InvalidReplicationFactor)) => {
                return Err(Error::Config(format!(
                    "cannot create topic `{topic}` with replication factor {}: the cluster has \
                     {brokers} broker(s) available; lower it with FastKafkaBuilder::replication_factor \
                     (1 for a single-broker development Kafka) or wait for the brokers",
                    replication_factor.map_or("(the broker's default)".to_string(), |r| r.to_string())
                )))
            }
            Err((topic, code)) => {
                return Err(Error::Startup(format!(
                    "cannot create topic `{topic}`: {code}"
                )))
            }
        }
    }
    Ok(())
}

/// Asks `broker` for its metadata until it answers. While it does not, says once that
/// the app waits, and what fails (every [`REPEAT_EVERY`](crate::client::log::REPEAT_EVERY)), and keeps asking, until
/// `startup_timeout` if given.
/// A refused login or TLS handshake fails at once: retrying cannot fix credentials.
async fn wait_for_metadata(
    broker: &ResolvedBroker,
    config: &rdkafka::ClientConfig,
    startup_timeout: Option<Duration>,
) -> Result<Metadata> {
    // A plain consumer handle asks for metadata without creating topics on the way.
    let mut probe_config = config.clone();
    probe_config.set("allow.auto.create.topics", "false");
    let probe: std::sync::Arc<rdkafka::consumer::BaseConsumer<ClientCtx>> = std::sync::Arc::new(
        probe_config
            .create_with_context(client_ctx(broker, "metadata probe"))
            .map_err(|source| Error::Client {
                what: format!("metadata client for broker `{}`", broker.name),
                source,
            })?,
    );
    crate::client::seed_token(rdkafka::consumer::Consumer::client(&*probe), &broker.oauth);
    let started = Instant::now();
    let mut said: Option<Instant> = None;
    loop {
        let asked = std::sync::Arc::clone(&probe);
        let answer = tokio::task::spawn_blocking(move || {
            rdkafka::consumer::Consumer::fetch_metadata(&*asked, None, PROBE_TIMEOUT)
        })
        .await
        .map_err(|e| Error::panicked("topic check", e))?;
        let error = match answer {
            Ok(metadata) => {
                if said.is_some() {
                    tracing::info!(
                        bootstrap = broker.bootstrap,
                        waited_s = started.elapsed().as_secs(),
                        "the Kafka broker answers; starting"
                    );
                }
                return Ok(metadata);
            }
            Err(e) => e,
        };
        if is_refused_login(&error) {
            return Err(Error::Startup(format!(
                "the Kafka broker at {} refused the connection: {error}; check the broker's security settings (Broker::security)",
                broker.bootstrap
            )));
        }
        if let Some(limit) = startup_timeout {
            if started.elapsed() >= limit {
                return Err(Error::Startup(format!(
                    "the Kafka broker at {} did not answer within the start-up timeout of {} s ({error}); is it running at that address?",
                    broker.bootstrap,
                    limit.as_secs()
                )));
            }
        }
        // What failed where (a name that does not resolve, a closed port...) reaches
        // the probe's log through its error events, each said once per
        // REPEAT_EVERY for the whole app (the connection check said it first).
        let _ = probe.poll(Duration::ZERO);
        if said.is_none() {
            tracing::warn!(
                broker = broker.name,
                bootstrap = broker.bootstrap,
                error = %error,
                startup_timeout_s = startup_timeout.map(|t| t.as_secs()),
                "the app waits for the Kafka broker before it creates its declared topics and starts; retrying until it answers"
            );
            said = Some(Instant::now());
        }
        tokio::time::sleep(PROBE_PAUSE).await;
    }
}

/// A client context that logs as `client` of `broker` and serves its OAUTHBEARER tokens.
fn client_ctx(broker: &ResolvedBroker, client: &str) -> ClientCtx {
    ClientCtx {
        log: ClientLog::new(format!("{client} for broker {}", broker.name)),
        oauth: broker.oauth.clone(),
    }
}

/// An error that a retry cannot fix: the broker refused the credentials or the TLS
/// handshake.
fn is_refused_login(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
    )
}
