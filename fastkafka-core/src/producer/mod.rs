//! Producing: one librdkafka producer per broker, shared by every `#[produces]` function.
//!
//! A call encodes the message, puts it on the producer's local queue and returns a
//! [`PendingDelivery`] at once; the broker's acknowledgement arrives later through it.
//! A loop of calls is therefore bound by encoding and queueing, not by broker latency.
//!
//! - `mod.rs`: what `#[produces]` registers ([`ProducerSpec`]) and where a function
//!   sends while the app runs ([`ProducerSlot`], [`TopicBinding`]);
//! - `broker`: one broker's librdkafka producer and its delivery reports;
//! - `send`: queueing a call's encoded message, [`PendingDelivery`];
//! - `record`: the one place a `KafkaEvent` becomes a record (also for the Tester);
//! - `routing`: choosing the partition, asking for partition counts through
//!   `PartitionCounts`.

mod broker;
mod record;
mod routing;
mod send;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

pub(crate) use self::broker::BrokerProducer;
pub use self::broker::DeliveryCounts;
pub(crate) use self::record::fill as fill_record;
pub(crate) use self::routing::Router;

pub(crate) use self::send::send_event;
pub use self::send::{produce, produce_batch, PendingDelivery};
use crate::partition::{KeylessStrategy, PartitionerFn};

/// A producer function, as `#[produces]` registers it. Not written by hand.
#[doc(hidden)]
pub struct ProducerSpec {
    /// The function's name.
    pub function: &'static str,
    /// The module it is declared in (`module_path!()`).
    pub module: &'static str,
    /// The topic it writes to.
    pub topic: &'static str,
    /// The named broker it is pinned to; `None` follows `--kafka-broker`.
    pub broker: Option<&'static str>,
    /// `description = "..."`, else the function's doc comment.
    pub description: &'static str,
    /// The headers its records carry, as `header(..)` declares them, for the docs.
    pub headers: &'static [crate::headers::HeaderSpec],
    /// Whether one call produces a batch (`Vec<T>`).
    pub batch: bool,
    /// Whether the function returns `KafkaEvent<..>`, so its messages may carry a key.
    pub keyed: bool,
    /// The message type's JSON schema.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The message type's Rust name, for the docs.
    pub message_type: &'static str,
    /// `partitioner = path`: a custom partitioner for this function.
    pub partitioner: Option<PartitionerFn>,
    /// The `partitioner` path as written, for the docs.
    pub partitioner_name: Option<&'static str>,
    /// `keyless = "..."`: the keyless strategy for this function.
    pub keyless: Option<KeylessStrategy>,
    /// Bound to a running producer while the app runs.
    pub slot: ProducerSlot,
}

/// Checks a `partitioner = path` argument's signature at the user's span.
#[doc(hidden)]
pub const fn custom_partitioner(f: PartitionerFn) -> Option<PartitionerFn> {
    Some(f)
}

/// A registered producer function.
#[doc(hidden)]
pub struct ProducerRef(pub &'static ProducerSpec);

inventory::collect!(ProducerRef);

/// Every `#[produces]` function linked into this binary.
pub(crate) fn registered() -> impl Iterator<Item = &'static ProducerSpec> {
    inventory::iter::<ProducerRef>.into_iter().map(|r| r.0)
}

/// Where a producer function sends while the app runs. Lock-free to read.
#[doc(hidden)]
pub struct ProducerSlot(ArcSwapOption<TopicBinding>);

impl ProducerSlot {
    /// An unbound slot.
    pub const fn new() -> Self {
        ProducerSlot(ArcSwapOption::const_empty())
    }

    /// Binds `binding` if the slot is free; whether it did.
    pub(crate) fn bind_if_free(&self, binding: &Arc<TopicBinding>) -> bool {
        let before = self
            .0
            .compare_and_swap(std::ptr::null::<TopicBinding>(), Some(Arc::clone(binding)));
        before.is_none()
    }

    /// Frees the slot if it holds `binding`.
    pub(crate) fn unbind_if(&self, binding: &Arc<TopicBinding>) {
        let _ = self.0.compare_and_swap(binding, None);
    }
}

impl Default for ProducerSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// A producer function's topic on its broker's producer, and how it routes.
#[doc(hidden)]
pub(crate) struct TopicBinding {
    producer: Arc<BrokerProducer>,
    topic: Arc<str>,
    router: Router,
    /// Under a Tester: records each message sent.
    recorder: Option<Arc<crate::calls::Recorder>>,
}

impl TopicBinding {
    pub(crate) fn new(producer: Arc<BrokerProducer>, topic: &str, router: Router) -> Self {
        TopicBinding {
            producer,
            topic: Arc::from(topic),
            router,
            recorder: None,
        }
    }

    /// Has `recorder` (a Tester's) record each message sent through this binding.
    pub(crate) fn recorded_by(mut self, recorder: Option<Arc<crate::calls::Recorder>>) -> Self {
        self.recorder = recorder;
        self
    }
}
