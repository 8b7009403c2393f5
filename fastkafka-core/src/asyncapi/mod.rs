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
//! | `header(name = "..", ..)` on a function; the `fastkafka.*` headers of dead letters | the message's `headers` schema |
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
//!
//! Where each part is built:
//!
//! - `model`: the document's serialized shape (`Document`, `Channel`, `Message`, ...);
//! - `document`: the whole document, assembled from the parts below;
//! - `servers`: servers and their security schemes, from the app's brokers;
//! - `channels`: one channel per topic, and its key schema;
//! - `messages`: messages and their payloads, dead-letter messages;
//! - `operations`: send and receive operations, and where records go;
//! - `schema`: schema definitions, examples and [`sample`]s;
//! - `ids`: ids the AsyncAPI key pattern accepts, [`sanitize_id`];
//! - `yaml`: [`to_yaml`].

mod channels;
mod document;
mod ids;
mod messages;
mod model;
mod operations;
mod schema;
mod servers;
mod yaml;

use crate::app::FastKafka;
use crate::partition::KeylessStrategy;
use serde_json::Value;

pub(crate) use self::document::document;
pub use self::ids::sanitize_id;
pub use self::schema::sample;
pub use self::yaml::to_yaml;

/// The AsyncAPI version of the documents fastkafka writes.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The version of the AsyncAPI Kafka bindings used in the documents.
pub const KAFKA_BINDING_VERSION: &str = "0.5.0";

impl FastKafka {
    /// The app's AsyncAPI 3.0 document, from the app's description and brokers and
    /// every `#[produces]` and `#[consumes]` function of the app (all of this binary's,
    /// unless [`FastKafkaBuilder::only`](crate::FastKafkaBuilder::only) chose some).
    ///
    /// The output is deterministic: the same app gives the same document.
    pub fn asyncapi(&self) -> Value {
        let mut endpoints: Vec<Endpoint> = self
            .producers()
            .map(|p| Endpoint {
                function: p.function,
                topic: p.topic,
                broker: p.broker,
                description: p.description,
                headers: p.headers,
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
            .chain(self.consumers().map(|c| Endpoint {
                function: c.function,
                topic: c.topic,
                broker: c.broker,
                description: c.description,
                headers: c.headers,
                message_type: c.message_type,
                schema: c.schema,
                batch: c.max_batch().is_some(),
                json: c.json_decoder,
                role: Role::Receive {
                    group_id: c.group_id.map_or_else(|| self.group_id(), str::to_string),
                    dead_letter: c.dead_letter,
                    max_batch: c.max_batch(),
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
    /// The headers it declares with `header(..)`.
    pub(crate) headers: &'static [crate::headers::HeaderSpec],
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
        /// `None`: one message at a time.
        max_batch: Option<usize>,
    },
}
