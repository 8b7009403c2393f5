//! Channels, one per topic, and the key schema of their messages.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::model::{reference, Channel, Server};
use super::{Endpoint, Role, KAFKA_BINDING_VERSION};
use crate::app::FastKafka;

pub(super) fn new_channel(
    app: &FastKafka,
    id: &str,
    topic: &str,
    on_topic: &[&Endpoint],
    servers: &[(String, String, Server)],
) -> Channel {
    let names = |send: bool| -> Vec<String> {
        on_topic
            .iter()
            .filter(|e| matches!(e.role, Role::Send { .. }) == send)
            .map(|e| format!("`{}`", e.function))
            .collect()
    };
    let mut parts = Vec::new();
    let writers = names(true);
    if !writers.is_empty() {
        parts.push(format!("Written by {}.", writers.join(", ")));
    }
    let readers = names(false);
    if !readers.is_empty() {
        parts.push(format!("Read by {}.", readers.join(", ")));
    }
    // Pinned to one named broker: say which server the topic lives on.
    let pinned = on_topic.first().and_then(|e| e.broker);
    let channel_servers = match pinned {
        Some(b) if on_topic.iter().all(|e| e.broker == Some(b)) => servers
            .iter()
            .filter(|(name, _, _)| name == b)
            .map(|(_, sid, _)| reference(format!("#/servers/{sid}")))
            .collect(),
        _ => Vec::new(),
    };
    let mut kafka = Map::new();
    if id != topic {
        kafka.insert("topic".into(), topic.into());
    }
    if let Some((_, partitions)) = app.topics.iter().find(|(t, _)| t == topic) {
        kafka.insert("partitions".into(), (*partitions).into());
    }
    let bindings = (!kafka.is_empty()).then(|| {
        kafka.insert("bindingVersion".into(), KAFKA_BINDING_VERSION.into());
        json!({ "kafka": kafka })
    });
    Channel {
        address: topic.to_string(),
        description: parts.join(" "),
        messages: BTreeMap::new(),
        servers: channel_servers,
        bindings,
    }
}

/// The key in the message's Kafka binding: text when a producer sets one, optional
/// when only consumers read the topic, absent when producers never set one. Where a key
/// leads is said only as far as every producer that sets one agrees; each send
/// operation says its own rule (see [`placement`]).
pub(super) fn key_schema(on_topic: &[&Endpoint]) -> Value {
    // The custom partitioner (or `None`: the Java rule) of each producer that sets keys.
    let mut rules: Vec<Option<&str>> = on_topic
        .iter()
        .filter_map(|e| match e.role {
            Role::Send {
                keyed: true,
                partitioner,
                ..
            } => Some(partitioner),
            _ => None,
        })
        .collect();
    rules.dedup();
    let received = on_topic
        .iter()
        .any(|e| matches!(e.role, Role::Receive { .. }));
    let description = match rules.as_slice() {
        [] if received => {
            return json!({
                "type": ["string", "null"],
                "description": "The record key, if the producer set one (EventMetadata::key)."
            })
        }
        [] => return json!({ "type": "null", "description": "These records carry no key." }),
        [None] => "The record key, set with KafkaEvent::key: records with the same key go to the same partition (murmur2 of the key modulo the partition count, as the Java client), unless a record is pinned with KafkaEvent::partition.".to_string(),
        [Some(partitioner)] => format!("The record key, set with KafkaEvent::key, which the custom partitioner `{partitioner}` is given to choose the partition (unless a record is pinned with KafkaEvent::partition)."),
        _ => "The record key, set with KafkaEvent::key. The producers of this topic place records by different rules: each send operation says its own.".to_string(),
    };
    json!({ "type": "string", "description": description })
}
