//! Operations: what each function sends or receives, and where its records go.

use serde_json::{json, Value};

use super::model::Operation;
use super::{Endpoint, Role, KAFKA_BINDING_VERSION};
use crate::partition::KeylessStrategy;

/// The send or receive operation of `endpoint` on its channel.
pub(super) fn operation(endpoint: &Endpoint, channel: Value, messages: Vec<Value>) -> Operation {
    match &endpoint.role {
        Role::Send {
            keyed,
            partitioner,
            keyless,
        } => {
            let mut notes = Vec::new();
            if endpoint.batch {
                notes.push("Each call sends a batch: one record per element.".to_string());
            }
            notes.push(placement(*keyed, *partitioner, *keyless));
            Operation {
                action: "send",
                channel,
                description: with_note(endpoint.description, Some(&notes.join(" "))),
                messages,
                bindings: None,
            }
        }
        Role::Receive {
            group_id,
            dead_letter,
            max_batch,
        } => {
            let mut notes = Vec::new();
            if let Some(max_batch) = max_batch {
                notes.push(format!(
                    "Receives batches of up to {max_batch} records; each record is one message."
                ));
            }
            if let Some(dlq) = dead_letter {
                notes.push(format!(
                        "A message that cannot be decoded or handled goes to the dead-letter topic `{dlq}`."
                    ));
            }
            let note = notes.join(" ");
            Operation {
                action: "receive",
                channel,
                description: with_note(
                    endpoint.description,
                    (!note.is_empty()).then_some(note.as_str()),
                ),
                messages,
                bindings: Some(json!({
                    "kafka": {
                        "groupId": { "type": "string", "enum": [group_id] },
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                })),
            }
        }
    }
}

/// The operation that sends `endpoint`'s dead letters to `dlq`.
pub(super) fn dead_letter_operation(
    endpoint: &Endpoint,
    dlq: &str,
    channel: Value,
    message: Value,
) -> Operation {
    Operation {
        action: "send",
        channel,
        description: format!(
            "Sends the records that `{}` could not decode, or could not handle after its retries, to `{dlq}`, so that no record is lost.",
            endpoint.function
        ),
        messages: vec![message],
        bindings: None,
    }
}

/// Where a producer's records go, as `crate::producer::Router::choose` decides: a pinned
/// partition, else the custom partitioner, else murmur2 of the key (librdkafka's
/// `murmur2_random`, the Java client's rule), else the keyless strategy.
fn placement(keyed: bool, partitioner: Option<&str>, keyless: KeylessStrategy) -> String {
    const PINNED: &str = "a record pinned with KafkaEvent::partition goes to that partition";
    let keyless = match keyless {
        KeylessStrategy::Sticky => "by the keyless strategy `sticky`: a batch fills on one partition, then the next batch goes to another (librdkafka's sticky partitioner)",
        KeylessStrategy::RoundRobin => "by the keyless strategy `round_robin`: to partitions 0, 1, 2, … in turn",
        KeylessStrategy::Random => "by the keyless strategy `random`: each to a random partition",
    };
    match (keyed, partitioner) {
        (true, None) => format!("Where records go: {PINNED}; a record with a key goes to partition murmur2(key) modulo the partition count, as the Java client places it, so records with the same key go to the same partition; records without a key are placed {keyless}."),
        (true, Some(f)) => format!("Where records go: {PINNED}; every other record goes where the custom partitioner `{f}` puts it, given the record's key (if any) and the partition count."),
        (false, None) => format!("Where records go: these records carry no key; they are placed {keyless}."),
        (false, Some(f)) => format!("Where records go: the custom partitioner `{f}` chooses each record's partition from the partition count (these records carry no key)."),
    }
}

fn with_note(description: &str, note: Option<&str>) -> String {
    match note {
        Some(note) if description.is_empty() => note.to_string(),
        Some(note) => format!("{description}\n\n{note}"),
        None => description.to_string(),
    }
}
