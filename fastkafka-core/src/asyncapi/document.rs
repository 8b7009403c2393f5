//! The whole document, assembled from its parts.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::channels::new_channel;
use super::ids::Ids;
use super::messages::{
    channel_message_name, dead_letter_message, headers_schema, merge_headers, message, payload,
};
use super::model::{reference, Channel, Components, Document, Info, Operation, Server};
use super::operations::{dead_letter_operation, operation};
use super::schema::sanitize_definitions;
use super::servers::{security_schemes, servers};
use super::{Endpoint, Role, ASYNCAPI_VERSION};
use crate::app::FastKafka;

/// Where message schemas live in the document; `$ref`s point here.
const SCHEMAS_PATH: &str = "/components/schemas";

/// Builds the document for `app` and its functions (sorted by topic, then function).
pub(crate) fn document(app: &FastKafka, endpoints: &[Endpoint]) -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = SCHEMAS_PATH.into();
            s.meta_schema = None;
        })
        .into_generator();

    let servers = servers(app);
    let mut channels = Channels::default();
    let mut operations: BTreeMap<String, Operation> = BTreeMap::new();
    let mut operation_ids = Ids::default();
    // Messages are built in two passes: payloads first (so every schema is known when
    // examples are made from them), then the rest.
    // Header schemas too: a header declared `schema = T` may add definitions.
    let mut payloads: Vec<(String, Value, &'static str)> = Vec::new();
    let mut headers: Vec<Option<Value>> = Vec::new();
    for endpoint in endpoints {
        payloads.push(payload(endpoint, &mut generator));
        headers.push(headers_schema(endpoint.headers, &mut generator));
    }
    let mut dead_letter_headers =
        headers_schema(crate::dead_letter_headers::SCHEMA, &mut generator);
    let definitions = sanitize_definitions(
        generator.take_definitions(true),
        &mut payloads,
        headers
            .iter_mut()
            .chain([&mut dead_letter_headers])
            .flatten(),
    );

    // The headers of a message several functions share, merged once all messages
    // exist: a producer's declarations first, since they say what its records carry.
    let mut declared: Vec<(bool, String, String, Value)> = Vec::new();
    for ((endpoint, (message_name, payload, content_type)), headers) in
        endpoints.iter().zip(payloads).zip(headers)
    {
        let on_topic = on_topic(endpoints, endpoint.topic);
        let (channel_id, channel) = channels.of(app, endpoint.topic, &on_topic, &servers);
        channel
            .messages
            .entry(message_name.clone())
            .or_insert_with(|| {
                message(
                    &message_name,
                    payload,
                    content_type,
                    &on_topic,
                    &definitions,
                )
            });
        if let Some(headers) = headers {
            let receives = matches!(endpoint.role, Role::Receive { .. });
            declared.push((receives, channel_id.clone(), message_name.clone(), headers));
        }
        let messages = vec![reference(format!(
            "#/channels/{channel_id}/messages/{message_name}"
        ))];
        let channel_ref = reference(format!("#/channels/{channel_id}"));
        let id = operation_ids.fresh(endpoint.function);
        operations.insert(id, operation(endpoint, channel_ref, messages));
    }

    declared.sort_by_key(|(receives, ..)| *receives);
    for (_, channel_id, message_name, headers) in declared {
        if let Some(message) = channels
            .by_id
            .get_mut(&channel_id)
            .and_then(|c| c.messages.get_mut(&message_name))
        {
            merge_headers(message, headers);
        }
    }

    // A dead-letter topic is written by the app too: a channel, a message and a send
    // operation for each consumer that has one.
    for endpoint in endpoints {
        let Role::Receive {
            dead_letter: Some(dlq),
            ..
        } = &endpoint.role
        else {
            continue;
        };
        let on_topic = on_topic(endpoints, dlq);
        let (channel_id, channel) = channels.of(app, dlq, &on_topic, &servers);
        let note = format!("Dead letters of `{}`.", endpoint.function);
        if !channel.description.contains(&note) {
            if !channel.description.is_empty() {
                channel.description.push(' ');
            }
            channel.description.push_str(&note);
        }
        let message_name = channel_message_name(&channel.messages, "DeadLetter");
        channel.messages.insert(
            message_name.clone(),
            dead_letter_message(
                &message_name,
                endpoint,
                dead_letter_headers.clone().unwrap_or_default(),
            ),
        );
        let id = operation_ids.fresh(&format!("{}_dead_letter", endpoint.function));
        operations.insert(
            id,
            dead_letter_operation(
                endpoint,
                dlq,
                reference(format!("#/channels/{channel_id}")),
                reference(format!("#/channels/{channel_id}/messages/{message_name}")),
            ),
        );
    }

    let security_schemes: BTreeMap<String, Value> = security_schemes(app)
        .into_iter()
        .map(|(_, id, scheme)| (id, scheme))
        .collect();
    let doc = Document {
        asyncapi: ASYNCAPI_VERSION,
        info: info(app),
        default_content_type: "application/json",
        servers: servers.into_iter().map(|(_, id, s)| (id, s)).collect(),
        channels: channels.by_id,
        operations,
        components: Components {
            schemas: definitions,
            security_schemes,
        },
    };
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

/// The functions that send or receive on `topic`.
fn on_topic<'e>(endpoints: &'e [Endpoint], topic: &str) -> Vec<&'e Endpoint> {
    endpoints.iter().filter(|e| e.topic == topic).collect()
}

/// The channels built so far, by id, and the channel id of each topic.
#[derive(Default)]
struct Channels {
    by_id: BTreeMap<String, Channel>,
    ids: Ids,
    of_topic: BTreeMap<&'static str, String>,
}

impl Channels {
    /// The channel id of `topic` and its channel, created on first use.
    fn of(
        &mut self,
        app: &FastKafka,
        topic: &'static str,
        on_topic: &[&Endpoint],
        servers: &[(String, String, Server)],
    ) -> (String, &mut Channel) {
        let ids = &mut self.ids;
        let id = self
            .of_topic
            .entry(topic)
            .or_insert_with(|| ids.fresh(topic))
            .clone();
        let channel = self
            .by_id
            .entry(id.clone())
            .or_insert_with(|| new_channel(app, &id, topic, on_topic, servers));
        (id, channel)
    }
}

/// The document's `info`, from the app's.
fn info(app: &FastKafka) -> Info {
    let info = &app.info;
    let contact = info.contact.as_ref().map(|c| {
        let mut contact = Map::new();
        contact.insert("name".into(), c.name.clone().into());
        if let Some(url) = &c.url {
            contact.insert("url".into(), url.clone().into());
        }
        if let Some(email) = &c.email {
            contact.insert("email".into(), email.clone().into());
        }
        Value::Object(contact)
    });
    Info {
        title: info.title.clone(),
        version: info.version.clone(),
        description: info.description.clone(),
        contact,
    }
}
