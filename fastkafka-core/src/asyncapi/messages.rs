//! Messages: a function's payload, and the record a consumer dead-letters.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::channels::key_schema;
use super::ids::sanitize_id;
use super::model::Message;
use super::schema::{message_examples, payload_description};
use super::{Endpoint, KAFKA_BINDING_VERSION};

/// The message of a function's payload on its channel.
pub(super) fn message(
    name: &str,
    payload: Value,
    content_type: &'static str,
    on_topic: &[&Endpoint],
    definitions: &Map<String, Value>,
) -> Message {
    let description = payload_description(&payload, definitions);
    let examples = message_examples(&payload, definitions);
    Message {
        title: name.to_string(),
        name: name.to_string(),
        description,
        content_type,
        headers: None,
        payload,
        bindings: json!({
            "kafka": {
                "key": key_schema(on_topic),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }),
        examples,
    }
}

/// `base`, or `base2`, `base3`... if the channel already has a message of that name.
pub(super) fn channel_message_name(messages: &BTreeMap<String, Message>, base: &str) -> String {
    (1..)
        .map(|i| {
            if i == 1 {
                base.to_string()
            } else {
                format!("{base}{i}")
            }
        })
        .find(|n| !messages.contains_key(n))
        .unwrap_or_else(|| base.to_string())
}

/// A record that a consumer dead-lettered: the original record, byte for byte, plus
/// the headers that say why (see [`crate::dead_letter_headers`]).
pub(super) fn dead_letter_message(name: &str, endpoint: &Endpoint) -> Message {
    use crate::dead_letter_headers as h;
    let header = |description: &str| json!({ "type": "string", "description": description });
    Message {
        name: name.to_string(),
        title: name.to_string(),
        description: format!(
            "A record read from `{}` that `{}` could not decode, or could not handle after its retries: its original key, payload and headers, unchanged, plus the `fastkafka.*` headers that say why and where it was read.",
            endpoint.topic, endpoint.function
        ),
        content_type: "application/octet-stream",
        headers: Some(json!({
            "type": "object",
            "properties": {
                h::ERROR: header("Why it failed: the decode error, or the handler's last error."),
                h::STAGE: {
                    "type": "string",
                    "enum": ["decode", "handler"],
                    "description": "Where it failed: decoding the payload, or the handler."
                },
                h::TOPIC: header("The topic it was read from."),
                h::PARTITION: header("Its partition there, in decimal."),
                h::OFFSET: header("Its offset there, in decimal."),
            },
            "required": [h::ERROR, h::STAGE, h::TOPIC, h::PARTITION, h::OFFSET],
        })),
        payload: json!({
            "type": "string",
            "format": "binary",
            "description": "The original payload, byte for byte (it may not be valid for the consumer's schema: that can be why it is here)."
        }),
        bindings: json!({
            "kafka": {
                "key": {
                    "type": ["string", "null"],
                    "description": "The original record's key, if it had one."
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }),
        examples: Vec::new(),
    }
}

/// The message's name, payload schema and content type. `String` and `Vec<u8>` are sent
/// as they are (text, bytes); everything else is JSON.
pub(super) fn payload(
    endpoint: &Endpoint,
    generator: &mut schemars::SchemaGenerator,
) -> (String, Value, &'static str) {
    let ty: String = endpoint
        .message_type
        .split("::")
        .last()
        .unwrap_or("")
        .into();
    match ty.as_str() {
        "String" if endpoint.json => (
            "JsonText".into(),
            json!({ "type": "string", "description": "A JSON string, read as text" }),
            "application/json",
        ),
        "Vec<u8>" if endpoint.json => (
            "JsonBytes".into(),
            json!({
                "type": "array",
                "items": { "type": "integer", "minimum": 0, "maximum": 255 },
                "description": "A JSON array of byte values"
            }),
            "application/json",
        ),
        "String" => (
            "Text".into(),
            json!({ "type": "string", "description": "UTF-8 text, sent as it is" }),
            "text/plain",
        ),
        "Vec<u8>" => (
            "Bytes".into(),
            json!({ "type": "string", "format": "binary", "description": "Raw bytes, sent as they are" }),
            "application/octet-stream",
        ),
        _ => {
            let mut schema = (endpoint.schema)(generator);
            for t in generator.transforms_mut() {
                t.transform(&mut schema);
            }
            let schema = schema.to_value();
            let name = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_string)
                .unwrap_or_else(|| sanitize_id(&ty));
            (name, schema, "application/json")
        }
    }
}
