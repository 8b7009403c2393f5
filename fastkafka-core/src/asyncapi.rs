//! The app described as an [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0)
//! document: `APP asyncapi` prints it and `fastkafka docs` renders it.
//!
//! What maps to what:
//!
//! | the app | the document |
//! |---|---|
//! | `title`, `version`, `description`, `contact` | `info` |
//! | each named [`Broker`](crate::Broker) (else `localhost:9092`) | a server, protocol `kafka` |
//! | each topic | one channel (id: the topic with anything but `A-Za-z0-9_-` made `_`; `address`: the topic) |
//! | `#[produces]` / `#[consumes]` | a `send` / `receive` operation named after the function |
//! | the message type (`KafkaEvent<T>`, `Vec<T>` unwrapped to `T`) | a message; its schema under `components/schemas` |
//! | doc comments, `description = "..."` | `description`s |
//! | `#[schemars(example = ..)]` | schema `examples` and the message's `examples` |
//! | the record key, the consumer group | the Kafka message binding's `key`, the operation binding's `groupId` |
//! | where a producer's records go (pinned partition, `partitioner`, key hash, `keyless`) | the send operation's `description` |
//!
//! ```
//! let app = fastkafka::FastKafka::builder().title("Orders").build();
//! let doc = app.asyncapi();
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! assert_eq!(doc["info"]["title"], "Orders");
//! assert!(fastkafka::asyncapi::to_yaml(&doc).starts_with("asyncapi: \"3.0.0\"\n"));
//! ```

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::app::{Broker, FastKafka};
use crate::partition::KeylessStrategy;

/// The AsyncAPI version of the documents fastkafka writes.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The version of the AsyncAPI Kafka bindings used in the documents.
pub const KAFKA_BINDING_VERSION: &str = "0.5.0";

/// Where message schemas live in the document; `$ref`s point here.
const SCHEMAS_PATH: &str = "/components/schemas";

impl FastKafka {
    /// The app's AsyncAPI 3.0 document, from the app's description and brokers and
    /// every `#[produces]` and `#[consumes]` function linked into this binary.
    ///
    /// The output is deterministic: the same app gives the same document.
    pub fn asyncapi(&self) -> Value {
        let mut endpoints: Vec<Endpoint> = crate::producer::registered()
            .map(|p| Endpoint {
                function: p.function,
                topic: p.topic,
                broker: p.broker,
                description: p.description,
                message_type: p.message_type,
                schema: p.schema,
                batch: p.batch,
                json: false,
                role: Role::Send {
                    keyed: p.keyed,
                    partitioner: p.partitioner_name,
                    keyless: p.keyless.unwrap_or(self.keyless),
                },
            })
            .chain(crate::consumer::registered().map(|c| Endpoint {
                function: c.function,
                topic: c.topic,
                broker: c.broker,
                description: c.description,
                message_type: c.message_type,
                schema: c.schema,
                batch: c.batch,
                json: c.json_decoder,
                role: Role::Receive {
                    group_id: c.group_id.map_or_else(|| self.group_id(), str::to_string),
                    dead_letter: c.dead_letter,
                    max_batch: c.max_batch,
                },
            }))
            .collect();
        endpoints.sort_by(|a, b| (a.topic, a.function).cmp(&(b.topic, b.function)));
        document(self, &endpoints)
    }
}

/// One annotated function, as the document sees it.
pub(crate) struct Endpoint {
    pub(crate) function: &'static str,
    pub(crate) topic: &'static str,
    pub(crate) broker: Option<&'static str>,
    pub(crate) description: &'static str,
    pub(crate) message_type: &'static str,
    pub(crate) schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    pub(crate) batch: bool,
    /// `decoder = "json"` on a consumer: its `String`/`Vec<u8>` message is JSON.
    pub(crate) json: bool,
    pub(crate) role: Role,
}

/// Whether the app sends or receives on the topic.
pub(crate) enum Role {
    Send {
        /// It returns `KafkaEvent`: its records may carry a key or a pinned partition.
        keyed: bool,
        /// `partitioner = path`, as written.
        partitioner: Option<&'static str>,
        /// Its keyless strategy: its own, else the app's.
        keyless: KeylessStrategy,
    },
    Receive {
        group_id: String,
        dead_letter: Option<&'static str>,
        max_batch: usize,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    asyncapi: &'static str,
    info: Info,
    default_content_type: &'static str,
    servers: BTreeMap<String, Server>,
    channels: BTreeMap<String, Channel>,
    operations: BTreeMap<String, Operation>,
    #[serde(skip_serializing_if = "Components::is_empty")]
    components: Components,
}

#[derive(Serialize)]
struct Info {
    title: String,
    version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<Value>,
}

#[derive(Serialize)]
struct Server {
    host: String,
    protocol: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    /// `$ref`s to `components/securitySchemes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security: Vec<Value>,
}

#[derive(Serialize)]
struct Channel {
    address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    messages: BTreeMap<String, Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    servers: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bindings: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    name: String,
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Value>,
    payload: Value,
    bindings: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    examples: Vec<Value>,
}

#[derive(Serialize)]
struct Operation {
    action: &'static str,
    channel: Value,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bindings: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Components {
    #[serde(skip_serializing_if = "Map::is_empty")]
    schemas: Map<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    security_schemes: BTreeMap<String, Value>,
}

impl Components {
    fn is_empty(&self) -> bool {
        self.schemas.is_empty() && self.security_schemes.is_empty()
    }
}

fn reference(pointer: String) -> Value {
    json!({ "$ref": pointer })
}

/// Builds the document for `app` and its functions (sorted by topic, then function).
pub(crate) fn document(app: &FastKafka, endpoints: &[Endpoint]) -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = SCHEMAS_PATH.into();
            s.meta_schema = None;
        })
        .into_generator();

    let servers = servers(app);
    let mut channels: BTreeMap<String, Channel> = BTreeMap::new();
    let mut operations: BTreeMap<String, Operation> = BTreeMap::new();
    let mut channel_ids = Ids::default();
    let mut operation_ids = Ids::default();
    let mut topic_channel: BTreeMap<&str, String> = BTreeMap::new();
    // Messages are built in two passes: payloads first (so every schema is known when
    // examples are made from them), then the rest.
    let mut payloads: Vec<(String, Value, &'static str)> = Vec::new();
    for endpoint in endpoints {
        payloads.push(payload(endpoint, &mut generator));
    }
    let definitions = sanitize_definitions(generator.take_definitions(true), &mut payloads);

    for (endpoint, (message_name, payload, content_type)) in endpoints.iter().zip(payloads) {
        let channel_id = topic_channel
            .entry(endpoint.topic)
            .or_insert_with(|| channel_ids.fresh(endpoint.topic))
            .clone();
        let on_topic: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| e.topic == endpoint.topic)
            .collect();
        let channel = channels
            .entry(channel_id.clone())
            .or_insert_with(|| new_channel(app, &channel_id, endpoint.topic, &on_topic, &servers));
        channel
            .messages
            .entry(message_name.clone())
            .or_insert_with(|| {
                let description = payload_description(&payload, &definitions);
                let examples = message_examples(&payload, &definitions);
                Message {
                    title: message_name.clone(),
                    name: message_name.clone(),
                    description,
                    content_type,
                    headers: None,
                    payload,
                    bindings: json!({
                        "kafka": {
                            "key": key_schema(&on_topic),
                            "bindingVersion": KAFKA_BINDING_VERSION,
                        }
                    }),
                    examples,
                }
            });
        let messages = vec![reference(format!(
            "#/channels/{channel_id}/messages/{message_name}"
        ))];
        let channel_ref = reference(format!("#/channels/{channel_id}"));
        let id = operation_ids.fresh(endpoint.function);
        let operation = match &endpoint.role {
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
                    channel: channel_ref,
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
                if endpoint.batch {
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
                    channel: channel_ref,
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
        };
        operations.insert(id, operation);
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
        let channel_id = topic_channel
            .entry(dlq)
            .or_insert_with(|| channel_ids.fresh(dlq))
            .clone();
        let on_topic: Vec<&Endpoint> = endpoints.iter().filter(|e| e.topic == *dlq).collect();
        let channel = channels
            .entry(channel_id.clone())
            .or_insert_with(|| new_channel(app, &channel_id, dlq, &on_topic, &servers));
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
            dead_letter_message(&message_name, endpoint),
        );
        let id = operation_ids.fresh(&format!("{}_dead_letter", endpoint.function));
        operations.insert(
            id,
            Operation {
                action: "send",
                channel: reference(format!("#/channels/{channel_id}")),
                description: format!(
                    "Sends the records that `{}` could not decode, or could not handle after its retries, to `{dlq}`, so that no record is lost.",
                    endpoint.function
                ),
                messages: vec![reference(format!(
                    "#/channels/{channel_id}/messages/{message_name}"
                ))],
                bindings: None,
            },
        );
    }

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
    let security_schemes: BTreeMap<String, Value> = security_schemes(app)
        .into_iter()
        .map(|(_, id, scheme)| (id, scheme))
        .collect();
    let doc = Document {
        asyncapi: ASYNCAPI_VERSION,
        info: Info {
            title: info.title.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            contact,
        },
        default_content_type: "application/json",
        servers: servers.into_iter().map(|(_, id, s)| (id, s)).collect(),
        channels,
        operations,
        components: Components {
            schemas: definitions,
            security_schemes,
        },
    };
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

/// `(broker name, server id, server)` for each broker the app names, else `localhost`.
fn servers(app: &FastKafka) -> Vec<(String, String, Server)> {
    let mut ids = Ids::default();
    let schemes = security_schemes(app);
    let mut servers: Vec<(String, String, Server)> =
        app.brokers()
            .map(|(name, broker)| {
                let secure = broker.properties.iter().any(|(k, v)| {
                    k == "security.protocol" && v.to_ascii_lowercase().ends_with("ssl")
                });
                let security = schemes
                    .iter()
                    .filter(|(broker, _, _)| broker == name)
                    .map(|(_, id, _)| reference(format!("#/components/securitySchemes/{id}")))
                    .collect();
                (
                    name.to_string(),
                    ids.fresh(name),
                    Server {
                        host: broker.bootstrap(),
                        protocol: if secure { "kafka-secure" } else { "kafka" },
                        description: broker.description.clone(),
                        security,
                    },
                )
            })
            .collect();
    if servers.is_empty() {
        servers.push((
            "localhost".into(),
            "localhost".into(),
            Server {
                host: "localhost:9092".into(),
                protocol: "kafka",
                description: "Kafka on this machine (the default broker)".into(),
                security: Vec::new(),
            },
        ));
    }
    servers
}

/// The AsyncAPI 3 security scheme of a broker (its id in `components/securitySchemes`
/// and the scheme), from its librdkafka properties: the SASL mechanism, or `X509` for
/// TLS with a client certificate; `None` for no authentication (TLS alone included).
/// Names and endpoints only: a credential never enters the document.
fn security_scheme(broker: &Broker) -> Option<(String, Value)> {
    let get = |key: &str| {
        broker
            .properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let protocol = get("security.protocol")?.to_ascii_lowercase();
    let over = if protocol.ends_with("ssl") {
        "over TLS"
    } else {
        "without TLS"
    };
    if protocol == "ssl" {
        let client_certificate =
            get("ssl.certificate.location").is_some() || get("ssl.certificate.pem").is_some();
        return client_certificate.then(|| {
            (
                "X509".to_string(),
                json!({"type": "X509", "description": "mutual TLS: the client presents a certificate the broker trusts"}),
            )
        });
    }
    if !protocol.starts_with("sasl") {
        return None;
    }
    let env_mechanism = broker
        .env_prefix()
        .and_then(|prefix| std::env::var(format!("{prefix}_MECHANISM")).ok());
    let mechanism = match (get("sasl.mechanism"), &env_mechanism, broker.env_prefix()) {
        (Some(m), _, _) => m.to_ascii_uppercase(),
        (None, Some(m), _) => m.trim().to_ascii_uppercase(),
        (None, None, Some(_)) => crate::security::DEFAULT_ENV_MECHANISM.to_string(),
        (None, None, None) => "GSSAPI".to_string(),
    };
    let (kind, what) = match mechanism.as_str() {
        "PLAIN" => ("plain", "SASL/PLAIN"),
        "SCRAM-SHA-256" => ("scramSha256", "SASL/SCRAM-SHA-256"),
        "SCRAM-SHA-512" => ("scramSha512", "SASL/SCRAM-SHA-512"),
        "GSSAPI" => ("gssapi", "SASL/GSSAPI (Kerberos)"),
        "OAUTHBEARER" => ("oauth2", "SASL/OAUTHBEARER"),
        _ => return None,
    };
    let mut scheme = json!({"type": kind, "description": format!("{what} {over}")});
    if kind == "oauth2" {
        let flows = match get("sasl.oauthbearer.token.endpoint.url") {
            Some(url) => {
                let scopes: Map<String, Value> = get("sasl.oauthbearer.scope")
                    .into_iter()
                    .flat_map(|s| s.split([' ', ',']))
                    .filter(|s| !s.is_empty())
                    .map(|s| (s.to_string(), Value::String(String::new())))
                    .collect();
                scheme["scopes"] = scopes.keys().cloned().collect::<Vec<_>>().into();
                json!({"clientCredentials": {"tokenUrl": url, "availableScopes": scopes}})
            }
            // Tokens from the app's own function: the flow is the app's business.
            None => json!({}),
        };
        scheme["flows"] = flows;
    }
    Some((kind.to_string(), scheme))
}

/// Each named broker's security scheme: `(broker, id, scheme)`. Brokers whose schemes
/// are equal share one id (`scramSha512`); one that differs from an earlier one of the
/// same kind (another OAuth token endpoint) gets `{kind}_{broker}`.
fn security_schemes(app: &FastKafka) -> Vec<(String, String, Value)> {
    let mut schemes: Vec<(String, String, Value)> = Vec::new();
    for (name, broker) in app.brokers() {
        let Some((kind, scheme)) = security_scheme(broker) else {
            continue;
        };
        let taken = schemes.iter().find(|(_, id, _)| *id == kind);
        let id = match taken {
            Some((_, _, other)) if *other != scheme => format!("{kind}_{name}"),
            _ => kind,
        };
        schemes.push((name.to_string(), id, scheme));
    }
    schemes
}

fn new_channel(
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

/// `base`, or `base2`, `base3`... if the channel already has a message of that name.
fn channel_message_name(messages: &BTreeMap<String, Message>, base: &str) -> String {
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
fn dead_letter_message(name: &str, endpoint: &Endpoint) -> Message {
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
fn payload(
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

/// The key in the message's Kafka binding: text when a producer sets one, optional
/// when only consumers read the topic, absent when producers never set one. Where a key
/// leads is said only as far as every producer that sets one agrees; each send
/// operation says its own rule (see [`placement`]).
fn key_schema(on_topic: &[&Endpoint]) -> Value {
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

/// The schema a payload points at, following one `$ref` into the definitions.
fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .and_then(|name| definitions.get(name))
        .unwrap_or(schema)
}

fn payload_description(payload: &Value, definitions: &Map<String, Value>) -> String {
    resolve(payload, definitions)
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The message's examples: the type's own `#[schemars(example = ..)]`s, else one made
/// from its fields' examples (and a plausible value for fields without one).
fn message_examples(payload: &Value, definitions: &Map<String, Value>) -> Vec<Value> {
    let schema = resolve(payload, definitions);
    if let Some(examples) = schema.get("examples").and_then(Value::as_array) {
        return examples
            .iter()
            .enumerate()
            .map(|(i, e)| json!({ "name": format!("example{}", i + 1), "payload": e }))
            .collect();
    }
    if has_field_examples(schema, definitions, 0) {
        if let Some(sample) = sample(payload, definitions) {
            return vec![json!({ "name": "example1", "payload": sample })];
        }
    }
    Vec::new()
}

const MAX_DEPTH: usize = 8;

fn has_field_examples(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let schema = resolve(schema, definitions);
    if depth > 0 && schema.get("examples").is_some() {
        return true;
    }
    let nested = |key: &str| -> bool {
        match schema.get(key) {
            Some(Value::Object(props)) if key == "properties" => props
                .values()
                .any(|p| has_field_examples(p, definitions, depth + 1)),
            Some(Value::Array(items)) => items
                .iter()
                .any(|p| has_field_examples(p, definitions, depth + 1)),
            Some(item @ Value::Object(_)) => has_field_examples(item, definitions, depth + 1),
            _ => false,
        }
    };
    ["properties", "items", "allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| nested(k))
}

/// A value that fits `schema`: its first example, else one built from its type
/// (`"string"`, `0`, `false`, objects field by field), following `$ref`s into
/// `definitions` (the document's `components/schemas`). `None` for a schema that
/// says nothing about its values.
///
/// ```
/// use serde_json::json;
/// let schema = json!({"type": "object", "properties": {
///     "msg": {"type": "string", "examples": ["Hello"]}, "n": {"type": "integer"}}});
/// let sample = fastkafka::asyncapi::sample(&schema, &Default::default());
/// assert_eq!(sample, Some(json!({"msg": "Hello", "n": 0})));
/// ```
pub fn sample(schema: &Value, definitions: &Map<String, Value>) -> Option<Value> {
    sample_at(schema, definitions, 0)
}

fn sample_at(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let schema = resolve(schema, definitions);
    if let Some(example) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some(example.clone());
    }
    if let Some(value) = schema.get("const").or_else(|| schema.get("default")) {
        return Some(value.clone());
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some(first.clone());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|s| s.first())
        {
            return sample_at(first, definitions, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // `["string", "null"]`: an Option; show the value.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => return None,
    };
    Some(match ty {
        "object" => {
            let mut object = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    if let Some(v) = sample_at(prop, definitions, depth + 1) {
                        object.insert(name.clone(), v);
                    }
                }
            }
            Value::Object(object)
        }
        "array" => Value::Array(
            schema
                .get("items")
                .and_then(|items| sample_at(items, definitions, depth + 1))
                .into_iter()
                .collect(),
        ),
        "string" => "string".into(),
        "integer" => 0.into(),
        "number" => json!(0.0),
        "boolean" => false.into(),
        _ => Value::Null,
    })
}

/// Renames schema definitions whose names the AsyncAPI key pattern rejects, and their
/// `$ref`s with them.
fn sanitize_definitions(
    definitions: Map<String, Value>,
    payloads: &mut [(String, Value, &'static str)],
) -> Map<String, Value> {
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = Ids::default();
    for name in definitions.keys() {
        if is_component_key(name) {
            ids.used.insert(name.clone());
        }
    }
    for name in definitions.keys() {
        if !is_component_key(name) {
            renames.insert(name.clone(), ids.fresh(name));
        }
    }
    if renames.is_empty() {
        return definitions;
    }
    let mut out = Map::new();
    for (name, mut schema) in definitions {
        rewrite_refs(&mut schema, &renames);
        out.insert(renames.get(&name).cloned().unwrap_or(name), schema);
    }
    for (name, payload, _) in payloads.iter_mut() {
        rewrite_refs(payload, &renames);
        if let Some(new) = renames.get(name.as_str()) {
            *name = new.clone();
        }
    }
    out
}

fn rewrite_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(new) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .and_then(|name| renames.get(name))
                    {
                        *v = format!("#/components/schemas/{new}").into();
                    }
                } else {
                    rewrite_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

fn is_component_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `s` with every character the AsyncAPI id pattern `^[A-Za-z0-9_\-]+$` rejects made `_`.
pub fn sanitize_id(s: &str) -> String {
    let id: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "_".into()
    } else {
        id
    }
}

/// Hands out distinct ids: a second `a.b` (or an `a_b` after `a.b`) gets `a_b_2`.
#[derive(Default)]
struct Ids {
    used: std::collections::BTreeSet<String>,
}

impl Ids {
    fn fresh(&mut self, name: &str) -> String {
        let base = sanitize_id(name);
        let mut id = base.clone();
        let mut n = 2;
        while !self.used.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        id
    }
}

/// The document as YAML (block style; strings quoted unless plainly safe).
///
/// ```
/// let yaml = fastkafka::asyncapi::to_yaml(&serde_json::json!({"a": [1, "x: y"], "b": {}}));
/// assert_eq!(yaml, "a:\n  - 1\n  - \"x: y\"\nb: {}\n");
/// ```
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => yaml_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => yaml_seq(items, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(key));
        out.push(':');
        yaml_value(value, indent, out);
    }
}

fn yaml_seq(items: &[Value], indent: usize, out: &mut String) {
    for value in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match value {
            Value::Object(map) if !map.is_empty() => {
                // The first key goes on the dash's line, the others under it.
                let mut first = true;
                for (key, v) in map {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&yaml_string(key));
                    out.push(':');
                    yaml_value(v, indent + 2, out);
                }
            }
            _ => yaml_value(value, indent, out),
        }
    }
}

/// Writes what follows `key:` or `-`: a scalar on the same line, a collection below.
fn yaml_value(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            yaml_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            yaml_seq(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a plain scalar when it cannot be mistaken for anything else, else
/// double-quoted (JSON's escapes are YAML's).
fn yaml_string(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_what_the_key_pattern_allows_and_stay_distinct() {
        assert_eq!(sanitize_id("orders.v1"), "orders_v1");
        assert_eq!(sanitize_id("hello-world_2"), "hello-world_2");
        let mut ids = Ids::default();
        assert_eq!(ids.fresh("a.b"), "a_b");
        assert_eq!(ids.fresh("a_b"), "a_b_2");
        assert_eq!(ids.fresh("a b"), "a_b_3");
    }

    #[test]
    fn yaml_quotes_what_would_change_meaning() {
        let doc = json!({
            "asyncapi": "3.0.0",
            "t": "yes",
            "d": "line one\nline \"two\"",
            "ref": "#/components/schemas/X",
            "list": [{"name": "a", "n": 1}, [], "plain"],
            "none": null,
        });
        let yaml = to_yaml(&doc);
        assert_eq!(
            yaml,
            "asyncapi: \"3.0.0\"\nd: \"line one\\nline \\\"two\\\"\"\nlist:\n  - \"n\": 1\n    name: a\n  - []\n  - plain\nnone: null\nref: \"#/components/schemas/X\"\nt: \"yes\"\n"
        );
    }

    #[test]
    fn samples_use_examples_then_types() {
        let defs: Map<String, Value> = serde_json::from_value(json!({
            "Inner": {"type": "object", "properties": {"n": {"type": "integer"}}}
        }))
        .unwrap();
        let schema = json!({
            "type": "object",
            "properties": {
                "msg": {"type": "string", "examples": ["Hello"]},
                "inner": {"$ref": "#/components/schemas/Inner"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "maybe": {"type": ["number", "null"]}
            }
        });
        assert_eq!(
            sample(&schema, &defs).unwrap(),
            json!({"msg": "Hello", "inner": {"n": 0}, "tags": ["string"], "maybe": 0.0})
        );
        assert!(has_field_examples(&schema, &defs, 0));
        assert_eq!(message_examples(&schema, &defs).len(), 1);
        assert!(message_examples(&defs["Inner"], &defs).is_empty());
    }
}
