//! What `#[consumes]` registers: the consumer function's spec, the metadata a handler
//! may take, and the bound on message types.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::error::BoxError;

/// Where a consumed message came from, for handlers that take it as their second
/// argument.
///
/// ```
/// use fastkafka::prelude::*;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Order { id: u64 }
///
/// #[consumes]
/// async fn on_orders(order: Order, meta: EventMetadata) {
///     println!("order {} from partition {} @ {}", order.id, meta.partition, meta.offset);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
    /// The record key, if any.
    pub key: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The record timestamp in milliseconds since the Unix epoch, if any.
    pub timestamp: Option<i64>,
}

/// A decoded message, type-erased between the decoder and the handler that
/// `#[consumes]` generates.
#[doc(hidden)]
pub type Decoded = Box<dyn Any + Send>;

/// Calls a batch consumer function with decoded messages and their metadata (empty
/// unless it takes them).
#[doc(hidden)]
pub(crate) type HandlerFn =
    fn(Vec<Decoded>, Vec<EventMetadata>) -> BoxFuture<'static, std::result::Result<(), BoxError>>;

/// Calls a consumer function that takes one message (not a batch) with it and its
/// metadata (`None` unless it takes it): no `Vec`s.
#[doc(hidden)]
pub(crate) type CallOneFn =
    fn(Decoded, Option<EventMetadata>) -> BoxFuture<'static, std::result::Result<(), BoxError>>;

/// A consumer function, as `#[consumes]` registers it. Not written by hand.
#[doc(hidden)]
pub struct ConsumerSpec {
    /// The function's name.
    pub function: &'static str,
    /// The module it is declared in (`module_path!()`).
    pub module: &'static str,
    /// The [`State`](crate::State)s it takes, in order.
    pub states: &'static [crate::state::StateNeed],
    /// The topic it reads.
    pub topic: &'static str,
    /// `group_id = "..."`; `None` uses the app's group.
    pub group_id: Option<&'static str>,
    /// `auto_offset_reset = "..."`; `None` is `earliest`.
    pub auto_offset_reset: Option<&'static str>,
    /// The named broker it is pinned to; `None` follows `--kafka-broker`.
    pub broker: Option<&'static str>,
    /// `description = "..."`, else the function's doc comment.
    pub description: &'static str,
    /// The headers its records carry, as `header(..)` declares them, for the docs.
    pub headers: &'static [crate::headers::HeaderSpec],
    /// The message type's Rust name, for the docs.
    pub message_type: &'static str,
    /// The message type's JSON schema.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// Whether the handler takes `EventMetadata` (built only then).
    pub with_metadata: bool,
    /// `dead_letter = "topic"`: where undecodable and failing messages go.
    pub dead_letter: Option<&'static str>,
    /// How many times a failing handler is retried before the message is
    /// dead-lettered or skipped.
    pub retries: u32,
    /// Extra librdkafka consumer properties.
    pub config: &'static [(&'static str, &'static str)],
    /// Decodes one payload.
    pub decode: fn(Option<&[u8]>) -> std::result::Result<Decoded, String>,
    /// `decoder = "json"`: even a `String` or `Vec<u8>` message is read as JSON.
    pub json_decoder: bool,
    /// How the user's function is called: one message at a time, or in batches.
    pub handler: Handler,
}

/// How a consumer function takes its messages, and the call for it: a one-message
/// function has no batch size, and a batch function no one-message call.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Handler {
    /// `msg: T`: one message at a time, with its metadata if the function takes it.
    One(CallOneFn),
    /// `msgs: Vec<T>`: batches of up to `max_batch` messages, each waiting up to
    /// `max_wait` after its first message to fill up.
    Batch {
        /// Calls the function with a batch and, if it takes them, their metadata.
        call: HandlerFn,
        /// Most messages in one batch.
        max_batch: usize,
        /// How long a batch waits to fill up after its first message.
        max_wait: Duration,
    },
}

impl ConsumerSpec {
    /// The most messages in one batch; `None` for a function taking one message.
    pub(crate) fn max_batch(&self) -> Option<usize> {
        match self.handler {
            Handler::One(_) => None,
            Handler::Batch { max_batch, .. } => Some(max_batch),
        }
    }
}

/// A registered consumer function.
#[doc(hidden)]
pub struct ConsumerRef(pub &'static ConsumerSpec);

inventory::collect!(ConsumerRef);

/// Every `#[consumes]` function linked into this binary.
pub(crate) fn registered() -> impl Iterator<Item = &'static ConsumerSpec> {
    inventory::iter::<ConsumerRef>.into_iter().map(|r| r.0)
}

/// A message type a `#[consumes]` function can receive: `DeserializeOwned` to decode
/// it, `JsonSchema` to document it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be received by a #[consumes] function",
    label = "this message type needs `Deserialize` and `JsonSchema`",
    note = "add `#[derive(Deserialize, JsonSchema)]` to `{Self}`, with the derives of `fastkafka::prelude`: a `JsonSchema` derived with a schemars other than 1.x (e.g. 0.8) does not count"
)]
pub trait Incoming: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static {}

impl<T: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static> Incoming for T {}

/// The JSON schema of a received message type, naming [`Incoming`] so that a missing
/// derive is reported at the user's parameter type.
#[doc(hidden)]
pub fn incoming_schema_of<T: Incoming>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}
