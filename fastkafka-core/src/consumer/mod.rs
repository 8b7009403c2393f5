//! Consuming: typed consumer functions in consumer groups, at least once.
//!
//! Each `#[consumes]` function gets its own librdkafka consumer, polled on a dedicated
//! thread. Messages go to one task per assigned partition, which handles them in order
//! (partitions run concurrently: a partition whose task falls behind is paused at
//! librdkafka rather than holding up the poll thread, see `poll`'s `Parked`). An offset is stored for commit only once its message
//! was handled (or dead-lettered, or deliberately skipped), so everything committed was
//! processed. The poll thread stores each partition's progress and commits the stored
//! offsets every `auto.commit.interval.ms`
//! (1 s by default), and they are committed before partitions are handed over and when
//! the app stops. librdkafka's own auto-commit timer stays off: it fires on librdkafka's
//! thread at any moment, including while the consumer is closing.
//!
//! On a rebalance, the revoked partitions' tasks finish the message in hand (or are
//! abandoned after the grace period, committing nothing for it), the processed offsets
//! are committed, and only then are the partitions handed over. If the broker refuses
//! that commit (a group in the middle of a rebalance may), the progress is remembered
//! and committed when the new assignment gives those partitions back, before fetching
//! resumes there, so that the same messages are not processed twice.
//!
//! One consumed message goes poll → partition task → decode → handler → commit:
//!
//! - `spec`: what `#[consumes]` registers ([`ConsumerSpec`]), [`EventMetadata`],
//!   [`Incoming`];
//! - `lifecycle`: starting a consumer, stopping it, leaving its group;
//! - `poll`: the poll thread, copying messages into per-partition chunks;
//! - `partition`: one task per assigned partition, its state, storing its progress;
//! - `rebalance`: the consumer context that drains revoked partitions, and commits;
//! - `hooks`: the app's rebalance hooks ([`RebalanceEvent`], [`RebalanceHook`]), run
//!   from that context;
//! - `handle`: calling the handler, retries, what a failure is;
//! - `dead_letter`: dead-lettering or skipping what fails, [`dead_letter_headers`];
//! - `decode`: decoding payloads by type;
//! - `counts`: [`ConsumerCounts`].

mod counts;
mod dead_letter;
mod decode;
mod fetched;
mod handle;
mod hooks;
mod lifecycle;
mod partition;
mod poll;
mod rebalance;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;

pub use self::counts::ConsumerCounts;
pub(crate) use self::counts::Counters;
pub use self::dead_letter::dead_letter_headers;
pub use self::decode::{take, take_one, DecodeJson, DecodeProbe, DecodeRaw, DecodeUnsupported};
pub(crate) use self::hooks::{HookEntry, RebalanceHooks, ASSIGNED_HOOK, REVOKED_HOOK};
pub use self::hooks::{RebalanceEvent, RebalanceFn, RebalanceHook};
pub(crate) use self::lifecycle::{ConsumerSetup, RunningConsumer};
use self::rebalance::RebalanceGuard;
pub(crate) use self::spec::registered;
pub use self::spec::{
    incoming_schema_of, ConsumerRef, ConsumerSpec, Decoded, EventMetadata, Handler, Incoming,
};
use crate::backoff::Backoff;
use crate::context::AppContext;
use crate::producer::TopicBinding;

/// What the poll thread and the partition tasks share.
struct Shared {
    spec: &'static ConsumerSpec,
    counts: Arc<Counters>,
    consumer: Arc<BaseConsumer<RebalanceGuard>>,
    dead_letter: Option<Arc<TopicBinding>>,
    /// The app's producers, for its handlers' producer calls.
    app: Arc<AppContext>,
    topic: Arc<str>,
    /// `consumer{function=..}`: entered by the poll thread (and so around the
    /// rebalance callbacks), the parent of each `partition{partition=..}` task's span,
    /// so every log line of this consumer names its function once, in one place.
    span: tracing::Span,
}

const RETRY_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const RETRY_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The delays between attempts at a message: a failing handler's retries, and a
/// dead-letter write that failed for now.
fn retry_backoff() -> Backoff {
    Backoff::new(RETRY_INITIAL_BACKOFF, RETRY_MAX_BACKOFF)
}
