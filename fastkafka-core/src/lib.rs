//! # fastkafka
//!
//! A declarative async framework for Kafka applications, in the style of Python's
//! FastKafka: annotate plain async functions and the framework produces typed
//! messages, supervises background tasks, and runs the app as worker processes.
//!
//! ```no_run
//! use fastkafka::prelude::*;
//!
//! /// A greeting.
//! #[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
//! struct HelloWorld {
//!     /// Demo hello world message
//!     msg: String,
//! }
//!
//! fn app() -> FastKafka {
//!     FastKafka::builder()
//!         .title("Demo Kafka producer app")
//!         .broker("demo_broker", Broker::new("localhost", 9092))
//!         .build()
//! }
//!
//! // Writes to topic "hello_world": the `to_` prefix is dropped.
//! #[produces]
//! async fn to_hello_world(msg: String) -> KafkaEvent<HelloWorld> {
//!     KafkaEvent::new(HelloWorld { msg }).key(b"my_key")
//! }
//!
//! #[run_in_background]
//! async fn hello_every_second() -> fastkafka::Result<()> {
//!     loop {
//!         // Queued at once; awaiting the pending delivery waits for the broker.
//!         let delivery = to_hello_world("Hello world!".into()).await?.await?;
//!         tracing::info!(partition = delivery.partition, offset = delivery.offset, "sent");
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!     }
//! }
//!
//! fastkafka::main!(app);
//! ```
//!
//! Run it with `fastkafka run --num-workers 2 --kafka-broker embedded hello_app`, or
//! as one worker with `hello_app run --kafka-broker embedded`.
#![warn(missing_docs)]

mod app;
pub mod asyncapi;
mod background;
mod backoff;
mod calls;
mod cli;
mod client;
mod consumer;
mod context;
pub mod embedded;
mod encoding;
mod error;
mod event;
mod headers;
pub mod partition;
mod producer;
#[doc(hidden)]
pub mod protocol;
mod runtime;
pub mod security;
mod state;
mod sync;
pub mod testing;
mod topics;
mod tracking;

pub use app::{AppInfo, Broker, Contact, FastKafka, FastKafkaBuilder};
pub use background::RestartPolicy;
pub use consumer::{
    dead_letter_headers, ConsumerCounts, EventMetadata, Incoming, RebalanceEvent, RebalanceHook,
};
pub use context::spawn;
#[allow(deprecated)]
pub use encoding::Message;
pub use encoding::Outgoing;
pub use error::{BoxError, Error, IntoTaskResult, Result};
#[allow(deprecated)]
pub use event::IntoKey;
pub use event::{Delivery, DeliveryReport, IntoBytes, KafkaEvent};
pub use partition::{KeylessStrategy, PartitionerFn};
pub use producer::{DeliveryCounts, PendingDelivery};
pub use runtime::{shutdown_signal, RunningApp, ShutdownReport};
pub use state::{LifespanHook, State};

/// Exit code for a broker that refused the app (credentials, certificate, SASL
/// mechanism, protocol).
#[deprecated(note = "use `fastkafka::protocol::exit::REFUSED`, the same code")]
pub const EXIT_REFUSED: u8 = protocol::exit::REFUSED;

/// Set by `fastkafka run --kafka-broker embedded` for its workers: the bootstrap address
/// of the embedded broker it started.
#[deprecated(note = "use `fastkafka::protocol::EMBEDDED_BROKER_ENV`, the same value")]
pub const EMBEDDED_BROKER_ENV: &str = protocol::EMBEDDED_BROKER_ENV;

#[doc(hidden)]
#[deprecated(note = "use `fastkafka::protocol::STOP_BARRIER_ENV`, the same value")]
pub const STOP_BARRIER_ENV: &str = protocol::STOP_BARRIER_ENV;

#[doc(hidden)]
#[deprecated(note = "use `fastkafka::protocol::COMMITTED_LINE`, the same value")]
pub const COMMITTED_LINE: &str = protocol::COMMITTED_LINE;

// The security and embedded-broker names before they had modules of their own, for one
// release. A `pub use` cannot be deprecated (rustc ignores the attribute there), so
// each is a deprecated type alias or constant: the same type, and a warning at the
// user's code that names the new path.

/// How clients authenticate to a broker.
#[deprecated(note = "use `fastkafka::security::Security` (also in the prelude), the same type")]
pub type Security = security::Security;

/// Where the OAUTHBEARER tokens of a broker come from.
#[deprecated(note = "use `fastkafka::security::OAuth`, the same type")]
pub type OAuth = security::OAuth;

/// librdkafka's OIDC client settings, for [`security::OAuth::Oidc`].
#[deprecated(note = "use `fastkafka::security::Oidc`, the same type")]
pub type Oidc = security::Oidc;

/// An OAUTHBEARER token, as a token function returns it.
#[deprecated(note = "use `fastkafka::security::OAuthToken`, the same type")]
pub type OAuthToken = security::OAuthToken;

/// A token function of the app, for [`security::OAuth::Callback`].
#[deprecated(note = "use `fastkafka::security::TokenProvider`, the same type")]
pub type TokenProvider = security::TokenProvider;

/// The embedded broker: librdkafka's mock cluster, in this process.
#[cfg(feature = "embedded")]
#[deprecated(note = "use `fastkafka::embedded::EmbeddedBroker`, the same type")]
pub type EmbeddedBroker = embedded::EmbeddedBroker;

/// A Kafka request the embedded broker can be told to fail.
#[cfg(feature = "embedded")]
#[deprecated(note = "use `fastkafka::embedded::KafkaRequest`, the same type")]
pub type KafkaRequest = embedded::KafkaRequest;

/// Partitions of a topic the embedded broker creates on first use.
#[deprecated(note = "use `fastkafka::embedded::DEFAULT_PARTITIONS`, the same value")]
pub const DEFAULT_PARTITIONS: i32 = embedded::DEFAULT_PARTITIONS;

/// Marks an async fn as a producer: calling it queues its returned message on a topic.
///
/// The function returns the message, `T` or [`KafkaEvent<T>`] (for a key, a pinned
/// partition or headers), or `Vec<T>` / `KafkaEvent<Vec<T>>` for a batch. After the
/// macro, the function returns `fastkafka::Result<PendingDelivery>` (a batch:
/// `Result<Vec<PendingDelivery>>`): `Ok` once the message is queued, and the
/// [`PendingDelivery`] resolves to where it landed.
///
/// Arguments:
/// - `topic = "..."`: default, the function's name without its `to_` prefix;
/// - `broker = "name"`: pin a named broker instead of following `--kafka-broker`;
/// - `description = "..."`: for the docs; default, the doc comment;
/// - `partitioner = path::to::fn`: a [`PartitionerFn`] that chooses the partition of
///   every record not pinned with [`KafkaEvent::partition`], from its key (if any) and
///   the topic's partition count;
/// - `keyless = "sticky" | "round_robin" | "random"`: where records without a key go
///   (see [`KeylessStrategy`]); default, the app's
///   [`keyless_strategy`](FastKafkaBuilder::keyless_strategy), else `"sticky"`;
/// - `header(name = "...", description = "...", enum = ["a", "b"])`, once per header
///   its records carry (set with [`KafkaEvent::header`]): documents the header in the
///   message's `headers` schema. Instead of `enum`, `schema = T` takes the schema of a
///   `JsonSchema` type (without either: any text); `required` says every record has it.
///
/// A record goes to the partition pinned with [`KafkaEvent::partition`]; else where the
/// `partitioner` puts it; else, if it has a key, to murmur2 of the key modulo the
/// partition count, as the Java client places it; else by the keyless strategy. The
/// app's AsyncAPI document states each producer's rule.
///
/// ```no_run
/// use fastkafka::prelude::*;
///
/// #[derive(Serialize, JsonSchema)]
/// struct Order { id: u64 }
///
/// #[produces(topic = "orders.v1", description = "Accepted orders")]
/// async fn to_orders(id: u64) -> KafkaEvent<Order> {
///     KafkaEvent::new(Order { id }).key(id.to_string())
/// }
///
/// /// Orders of a region to that region's partition.
/// fn by_region(key: Option<&[u8]>, partition_count: i32) -> i32 {
///     let region = key.and_then(|k| k.first()).copied().unwrap_or(0);
///     i32::from(region) % partition_count
/// }
///
/// #[produces(topic = "orders.by_region", partitioner = by_region)]
/// async fn to_regional_orders(region: u8, id: u64) -> KafkaEvent<Order> {
///     KafkaEvent::new(Order { id }).key(vec![region])
/// }
///
/// // No key: spread one record at a time over the partitions.
/// #[produces(topic = "audit", keyless = "round_robin")]
/// async fn to_audit(line: String) -> String {
///     line
/// }
///
/// // A header, documented in the AsyncAPI document.
/// #[produces(
///     topic = "alerts",
///     header(name = "reason", description = "Why the alert fired", enum = ["hot", "cold"]),
/// )]
/// async fn to_alerts(celsius: f64) -> KafkaEvent<f64> {
///     let reason = if celsius > 30.0 { "hot" } else { "cold" };
///     KafkaEvent::new(celsius).header("reason", reason)
/// }
/// ```
pub use fastkafka_macros::produces;

/// Marks an async fn with no arguments as a background task, started after the
/// producers and supervised by the runtime.
///
/// It returns `()` or `Result<(), E>`. A failure (error or panic) is logged with the
/// function's name and the task restarts with exponential backoff
/// (`restart = "on_failure"`, the default); `#[run_in_background(restart = "never")]`
/// leaves it stopped instead. On shutdown the task is cancelled at its next `.await`.
///
/// ```no_run
/// use fastkafka::prelude::*;
///
/// #[run_in_background(restart = "never")]
/// async fn warm_up_cache() -> fastkafka::Result<()> {
///     Ok(())
/// }
/// ```
pub use fastkafka_macros::run_in_background;

/// Marks an async fn as a consumer: it receives the decoded messages of a topic, as a
/// member of a consumer group.
///
/// The function takes the message `T` (`Deserialize + JsonSchema`; `String` is UTF-8
/// text, `Vec<u8>` raw bytes, anything else JSON), optionally followed by
/// [`EventMetadata`]; or a batch `Vec<T>` (with `Vec<EventMetadata>`). It returns `()`
/// or `Result<(), E>`.
///
/// Delivery is at least once: an offset is committed only after the handler for that
/// message, and every earlier one in its partition, succeeded. Order is kept per
/// partition; partitions are handled concurrently. A message that does not decode is
/// logged and skipped, or sent to the `dead_letter` topic with the error in a header;
/// a failing (or panicking) handler is retried `retries` times with backoff first.
///
/// Arguments: `topic` (default: the name without its `on_` prefix), `group_id`
/// (default: the app's), `auto_offset_reset` (default `"earliest"`), `broker`,
/// `description`, `decoder` (`"json"`, `"string"`, `"bytes"`), `dead_letter = "topic"`,
/// `retries` (default 3), `max_batch` (default 100) and `max_wait_ms` (default 100) for
/// batches, `config = [("librdkafka.property", "value"), ..]`, and
/// `header(name = "...", description = "...", enum = [..] | schema = T, required)` once
/// per header it reads (from [`EventMetadata`]), for the docs, as on `#[produces]`.
///
/// ```no_run
/// use fastkafka::prelude::*;
///
/// #[derive(Deserialize, JsonSchema, Debug)]
/// struct HelloWorld { msg: String }
///
/// #[consumes(dead_letter = "hello_world_dlq")]
/// async fn on_hello_world(msg: HelloWorld, meta: EventMetadata) -> fastkafka::Result<()> {
///     tracing::info!(?msg, partition = meta.partition, offset = meta.offset, "got");
///     Ok(())
/// }
/// ```
pub use fastkafka_macros::consumes;

/// The rdkafka crate fastkafka is built on, for its configuration and error types.
pub use rdkafka;

/// The serde crate (1.x) fastkafka encodes and decodes messages with.
///
/// serde's derives name the crate `serde`, which a crate without serde in its
/// Cargo.toml does not have; point them here instead:
///
/// ```
/// use fastkafka::prelude::*;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// #[serde(crate = "fastkafka::serde")]
/// struct Order {
///     id: u64,
/// }
/// ```
pub use serde;

/// The schemars crate (1.x) fastkafka documents message types with. `JsonSchema` from
/// [`prelude`] is its derive; with the prelude's glob import it needs nothing more.
pub use schemars;

/// The tracing crate fastkafka logs through: `fastkafka::tracing::info!(..)` logs from an
/// app without a tracing dependency of its own.
pub use tracing;

/// What an app needs: `use fastkafka::prelude::*;`.
///
/// With it, `#[derive(JsonSchema)]` works in a crate that does not name schemars in its
/// Cargo.toml: the derive's code names `schemars`, which the glob import brings into
/// scope ([`schemars`], 1.x). A crate that does name schemars must
/// use 1.x: with another version (e.g. 0.8) the derive reports "`schemars` is
/// ambiguous". `#[derive(Serialize, Deserialize)]` name the crate `serde` directly:
/// either have `serde = { version = "1", features = ["derive"] }` in Cargo.toml, or
/// add `#[serde(crate = "fastkafka::serde")]` to the type (see [`serde`]).
pub mod prelude {
    pub use crate::schemars;
    pub use crate::security::Security;
    pub use crate::{
        consumes, produces, run_in_background, Broker, Delivery, EventMetadata, FastKafka,
        KafkaEvent, PendingDelivery, RebalanceEvent, State,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use std::time::Duration;
}

/// Generates the app binary's `main` from a function returning the app.
///
/// The binary then understands `run [--kafka-broker NAME]` and `asyncapi`.
///
/// ```no_run
/// fn app() -> fastkafka::FastKafka {
///     fastkafka::FastKafka::builder().title("my app").build()
/// }
/// fastkafka::main!(app);
/// ```
#[macro_export]
macro_rules! main {
    // `main!(app())`: a call, where the function itself is wanted. Caught before `path`,
    // whose parser would take `app()` for `Fn()` sugar and fail on it.
    ($($app:ident)::+ ( $($args:tt)* ) $(,)?) => {
        ::core::compile_error!(::core::concat!(
            "fastkafka::main! takes the function that builds the app, not a call to it: write `fastkafka::main!(",
            ::core::stringify!($($app)::+),
            ")`"
        ));
        fn main() {}
    };
    ($app:path $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            $crate::__private::app_main($app)
        }
    };
}

/// What generated code names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::background::BackgroundTaskSpec;
    pub use crate::cli::app_main;
    pub use crate::consumer::RebalanceFn;
    pub use crate::consumer::{
        incoming_schema_of, take, take_one, ConsumerRef, ConsumerSpec, DecodeJson, DecodeProbe,
        DecodeRaw, DecodeUnsupported, Decoded, EventMetadata, Handler,
    };
    pub use crate::encoding::{schema_of, EncodeJson, EncodeProbe, EncodeRaw};
    pub use crate::error::BoxError;
    pub use crate::error::IntoTaskResult;
    pub use crate::headers::{header_schema_of, HeaderSpec, HeaderValues};
    pub use crate::partition::KeylessStrategy;
    pub use crate::producer::{
        custom_partitioner, produce, produce_batch, ProducerRef, ProducerSlot, ProducerSpec,
    };
    pub use crate::state::{state, HookFn, StateNeed};
    pub use futures::future::BoxFuture;
    pub use inventory;
    pub use schemars;
}

#[cfg(test)]
mod tests {
    /// Compiles only when both arguments have one type.
    fn same_type<T>(_: &T, _: &T) {}

    #[test]
    #[allow(deprecated)]
    fn the_old_root_paths_still_name_the_security_items() {
        let security = crate::security::Security::Plaintext;
        same_type(&security, &crate::Security::Plaintext);
        assert!(matches!(security, crate::Security::Plaintext));
        let oidc = crate::Oidc::new("https://idp/token", "app", "secret");
        same_type(
            &crate::OAuth::Oidc(oidc.clone()),
            &crate::security::OAuth::Oidc(oidc),
        );
        let _: crate::security::OAuthToken = crate::OAuthToken {
            token: "t".into(),
            principal_name: "p".into(),
            lifetime_ms: 0,
        };
        let provider: crate::TokenProvider = std::sync::Arc::new(|_| unreachable!());
        same_type(
            &provider,
            &(provider.clone() as crate::security::TokenProvider),
        );
        assert_eq!(
            crate::DEFAULT_PARTITIONS,
            crate::embedded::DEFAULT_PARTITIONS
        );
    }

    #[test]
    #[cfg(feature = "embedded")]
    #[allow(deprecated)]
    fn the_old_root_paths_still_name_the_embedded_broker() {
        same_type(
            &crate::KafkaRequest::Produce,
            &crate::embedded::KafkaRequest::Produce,
        );
        let _: fn() -> crate::Result<crate::EmbeddedBroker> =
            crate::embedded::EmbeddedBroker::start;
    }
}
