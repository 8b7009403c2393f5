//! Messages: a function's payload, and the record a consumer dead-letters.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::channels::key_schema;
use super::ids::sanitize_id;
use super::model::Message;
use super::schema::{message_examples, payload_description};
use super::{Endpoint, KAFKA_BINDING_VERSION};
use crate::headers::{HeaderSpec, HeaderValues};

/// The message of a function's payload on its channel; its headers are added with
/// [`merge_headers`].
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

/// The message's `headers` schema: an object with one property per header, its
/// description and values; `None` when no header is declared.
pub(super) fn headers_schema(
    headers: &[HeaderSpec],
    generator: &mut schemars::SchemaGenerator,
) -> Option<Value> {
    if headers.is_empty() {
        return None;
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for header in headers {
        let mut schema = match header.values {
            HeaderValues::Text => json!({ "type": "string" }),
            HeaderValues::OneOf(values) => json!({ "type": "string", "enum": values }),
            HeaderValues::Schema(schema_of) => {
                let mut schema = schema_of(generator);
                for t in generator.transforms_mut() {
                    t.transform(&mut schema);
                }
                match schema.to_value() {
                    // A description beside a `$ref` is ignored (draft-07): wrap it.
                    reference @ Value::Object(_) if reference.get("$ref").is_some() => {
                        json!({ "allOf": [reference] })
                    }
                    other => other,
                }
            }
        };
        if let (Value::Object(map), false) = (&mut schema, header.description.is_empty()) {
            map.insert("description".into(), header.description.into());
        }
        properties.insert(header.name.to_string(), schema);
        if header.required && !required.contains(&header.name) {
            required.push(header.name);
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    Some(schema)
}

/// Adds the headers `more` declares to those of a message, which several functions
/// may share (a producer and a consumer of one topic, say): a header declared again
/// keeps its first schema; `required` lists what any of them requires.
pub(super) fn merge_headers(message: &mut Message, more: Value) {
    let Some(existing) = &mut message.headers else {
        message.headers = Some(more);
        return;
    };
    if let (Some(Value::Object(to)), Some(Value::Object(from))) =
        (existing.get_mut("properties"), more.get("properties"))
    {
        for (name, schema) in from {
            to.entry(name.clone()).or_insert_with(|| schema.clone());
        }
    }
    let mut required: Vec<Value> = existing["required"].as_array().cloned().unwrap_or_default();
    for name in more["required"].as_array().into_iter().flatten() {
        if !required.contains(name) {
            required.push(name.clone());
        }
    }
    if !required.is_empty() {
        existing["required"] = Value::Array(required);
    }
}

/// A record that a consumer dead-lettered: the original record, byte for byte, plus
/// the headers that say why (see [`crate::dead_letter_headers`]; `headers` is the
/// schema made from its table).
pub(super) fn dead_letter_message(name: &str, endpoint: &Endpoint, headers: Value) -> Message {
    Message {
        name: name.to_string(),
        title: name.to_string(),
        description: format!(
            "A record read from `{}` that `{}` could not decode, or could not handle after its retries: its original key, payload and headers, unchanged, plus the `fastkafka.*` headers that say why and where it was read.",
            endpoint.topic, endpoint.function
        ),
        content_type: "application/octet-stream",
        headers: Some(headers),
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
