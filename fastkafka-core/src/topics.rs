//! Declared topics: created at start when they do not exist yet.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use crate::app::ResolvedBroker;
use crate::client_log::ClientLog;
use crate::error::{Error, Result};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes sure every declared topic exists on `broker`.
pub(crate) async fn ensure(broker: &ResolvedBroker, topics: &[(String, i32)]) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    for (topic, partitions) in topics {
        if *partitions < 1 {
            return Err(Error::Config(format!(
                "topic `{topic}` is declared with {partitions} partitions; a topic needs at least 1"
            )));
        }
    }
    // The embedded broker of this run, or one this process started (tests): its mock
    // cluster has no CreateTopics API, so create the topics directly.
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
    let config = crate::connect::config_for(broker);
    let context = |client: &str| crate::connect::ClientCtx {
        log: ClientLog::new(format!("{client} for broker {}", broker.name)),
        oauth: broker.oauth.clone(),
    };
    let admin: AdminClient<crate::connect::ClientCtx> = config
        .create_with_context(context("admin client"))
        .map_err(|e| Error::Config(format!("cannot create the admin client: {e}")))?;
    // An OAUTHBEARER token reaches a client when its main queue is polled: nothing
    // polls an admin client's, so it gets its first token here (it lives for seconds).
    crate::connect::seed_token(admin.inner(), &broker.oauth);
    // A plain consumer handle asks for metadata without creating topics on the way.
    let mut probe_config = config.clone();
    probe_config.set("allow.auto.create.topics", "false");
    let probe_context = context("metadata probe");
    let probe_oauth = broker.oauth.clone();
    let metadata = tokio::task::spawn_blocking(move || {
        let probe: rdkafka::consumer::BaseConsumer<crate::connect::ClientCtx> =
            probe_config.create_with_context(probe_context)?;
        crate::connect::seed_token(rdkafka::consumer::Consumer::client(&probe), &probe_oauth);
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
                TopicReplication::Fixed(-1),
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
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::Config(format!(
                    "cannot create topic `{topic}`: {code}"
                )))
            }
        }
    }
    Ok(())
}
