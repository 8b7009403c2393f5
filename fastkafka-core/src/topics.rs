//! Declared topics: created at start when they do not exist yet.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::app::ResolvedBroker;
use crate::error::{Error, Result};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes sure every declared topic exists on `broker`; a missing one is created with
/// `replication_factor` replicas (`None`: the broker's default).
pub(crate) async fn ensure(
    broker: &ResolvedBroker,
    topics: &[(String, i32)],
    replication_factor: Option<i32>,
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
    // The embedded broker of this run, or one this process started (tests): its mock
    // cluster has no CreateTopics API, so create the topics directly. It is one broker:
    // the replication factor does not apply.
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
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &broker.bootstrap);
    for (k, v) in &broker.properties {
        config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = config
        .create()
        .map_err(|e| Error::Config(format!("cannot create the admin client: {e}")))?;
    // A plain consumer handle asks for metadata without creating topics on the way.
    let mut probe_config = config.clone();
    probe_config.set("allow.auto.create.topics", "false");
    let metadata = tokio::task::spawn_blocking(move || {
        let probe: rdkafka::consumer::BaseConsumer = probe_config.create()?;
        rdkafka::consumer::Consumer::fetch_metadata(&probe, None, ADMIN_TIMEOUT)
    })
    .await
    .map_err(|e| Error::Config(format!("topic check panicked: {e}")))??;
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
        Error::Config(format!(
            "cannot create the topics {names:?}: {e}; if this is fastkafka's embedded broker (it has no CreateTopics API), \
             create them with EmbeddedBroker::create_topic or run the app with `--kafka-broker embedded`"
        ))
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
                return Err(Error::Config(format!(
                    "cannot create topic `{topic}`: {code}"
                )))
            }
        }
    }
    Ok(())
}
