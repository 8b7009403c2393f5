//! The poll thread: fetches messages, copies them into per-partition chunks and hands
//! those to the partitions' tasks; commits periodically and on stop.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::Instrument;

use super::fetched::Fetched;
use super::partition::{
    partition_task, stop_partitions, store, PartitionState, PartitionTask, Partitions,
};
use super::rebalance::{commit, RebalanceGuard};
use super::Shared;
use crate::sync::LockUnpoisoned;

/// Messages waiting for one partition's task.
const PARTITION_QUEUE: usize = 1024;
/// Messages the poll thread holds for a partition whose queue is full, beyond which it
/// pauses fetching that partition (see [`Parked`]).
const PARK_LIMIT: usize = PARTITION_QUEUE;
/// ... or bytes of their keys and payloads: as much as a full queue holds at most, so
/// that large messages do not pile up on the poll thread.
const PARK_BYTES: usize = (PARTITION_QUEUE / CHUNK) * CHUNK_BYTES;
/// A message copied into a chunk being filled, before the chunk's buffer is shared.
struct Staged {
    offset: i64,
    start: usize,
    key_len: Option<usize>,
    payload_len: Option<usize>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: Option<i64>,
}

/// One partition's chunk being filled on the poll thread.
struct Staging {
    partition: i32,
    buf: Vec<u8>,
    messages: Vec<Staged>,
}

impl Staging {
    fn new(partition: i32) -> Self {
        Staging {
            partition,
            buf: Vec::new(),
            messages: Vec::with_capacity(CHUNK),
        }
    }

    /// Copies `m` into the chunk; its key, headers and timestamp only `if full`
    /// (they serve only `EventMetadata` and dead-lettering).
    fn push(&mut self, m: &rdkafka::message::BorrowedMessage<'_>, full: bool) {
        let headers = if full {
            m.headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        self.push_parts(
            m.offset(),
            if full { m.key() } else { None },
            m.payload(),
            headers,
            if full {
                m.timestamp().to_millis()
            } else {
                None
            },
        );
    }

    fn push_parts(
        &mut self,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Vec<(String, Vec<u8>)>,
        timestamp: Option<i64>,
    ) {
        let start = self.buf.len();
        if self.buf.capacity() == 0 {
            // Room for a chunk of messages like the first, within CHUNK_BYTES: one
            // large message must not reserve the room of CHUNK large ones.
            let one = key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len);
            self.buf
                .reserve(one.saturating_mul(CHUNK).min(CHUNK_BYTES).max(one));
        }
        if let Some(k) = key {
            self.buf.extend_from_slice(k);
        }
        if let Some(p) = payload {
            self.buf.extend_from_slice(p);
        }
        self.messages.push(Staged {
            offset,
            start,
            key_len: key.map(<[u8]>::len),
            payload_len: payload.map(<[u8]>::len),
            headers,
            timestamp,
        });
    }

    /// Whether the chunk should be handed over now: CHUNK messages, or CHUNK_BYTES of
    /// keys and payloads.
    fn is_full(&self) -> bool {
        self.messages.len() >= CHUNK || self.buf.len() >= CHUNK_BYTES
    }

    /// The chunk's messages, sharing its buffer.
    fn finish(self) -> (i32, Vec<Fetched>) {
        let buf = Arc::new(self.buf);
        let partition = self.partition;
        let messages = self
            .messages
            .into_iter()
            .map(|m| Fetched {
                partition,
                offset: m.offset,
                buf: Arc::clone(&buf),
                start: m.start,
                key_len: m.key_len,
                payload_len: m.payload_len,
                headers: m.headers,
                timestamp: m.timestamp,
            })
            .collect();
        (partition, messages)
    }
}

/// Messages go to a partition's task in chunks of up to this many: one wake-up per
/// chunk instead of per message.
const CHUNK: usize = 256;
/// ... and of at most about this many bytes of keys and payloads (a chunk that passes
/// it is handed over at once), so that large messages do not pile up in one buffer.
const CHUNK_BYTES: usize = 1 << 20;

/// Partial chunks are handed over at least this often while messages keep arriving.
const FLUSH_EVERY: Duration = Duration::from_millis(5);

/// How long the poll thread waits for room in a partition's full queue before it
/// parks the chunk: a task that keeps up makes room sooner, and the other partitions'
/// messages wait at most this long behind one that does not.
const ROOM_WAIT: Duration = Duration::from_millis(5);

/// How long a poll waits for messages while a partition's chunks are parked: how soon
/// a queue that made room gets them.
const PARKED_POLL: Duration = Duration::from_millis(1);

/// Chunks of one partition whose queue was full, in order, waiting on the poll thread.
///
/// The poll thread never blocks on one partition's queue: librdkafka hands it long
/// runs of one partition while a consumer catches up on a backlog, and blocking there
/// would leave the messages already fetched for the other partitions waiting behind a
/// slow handler. It parks the chunk instead and goes on polling; once a partition holds
/// more than [`PARK_LIMIT`] parked messages (or [`PARK_BYTES`]), fetching that partition is paused at
/// librdkafka (which drops what it had prefetched for it and, on resume, fetches again
/// from the message after the last one polled), and resumed once its queue took them
/// all. That keeps the back-pressure per partition, and the order: a partition with
/// parked chunks queues every later chunk behind them.
struct Parked {
    partition: i32,
    tx: mpsc::Sender<Vec<Fetched>>,
    chunks: VecDeque<Vec<Fetched>>,
    messages: usize,
    /// Bytes of the parked messages' keys and payloads.
    bytes: usize,
    paused: bool,
}

/// The bytes of a chunk's keys and payloads.
fn chunk_bytes(chunk: &[Fetched]) -> usize {
    chunk.iter().map(Fetched::size).sum()
}

/// The poll loop, on its own thread.
pub(super) struct Poller {
    pub(super) shared: Arc<Shared>,
    pub(super) partitions: Partitions,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) grace: Duration,
    pub(super) commit_every: Duration,
    pub(super) joining: Joining,
}

/// A consumer on its way into its group, for the poll thread to say what it waits for.
pub(super) struct Joining {
    pub(super) group_id: String,
    pub(super) session_timeout: Duration,
    pub(super) since: Instant,
}

/// After this long without partitions, a consumer says what it is waiting for.
const JOIN_PATIENCE: Duration = Duration::from_secs(10);

impl Poller {
    /// Polls until told to stop, then settles and commits; returns the consumer,
    /// still in its group (see `RunningConsumer::stop`).
    pub(super) fn run(self) -> Arc<BaseConsumer<RebalanceGuard>> {
        let _span = self.shared.span.clone().entered();
        let consumer = Arc::clone(&self.shared.consumer);
        let _ = consumer.context().shared.set(Arc::downgrade(&self.shared));
        // Chunks being filled, by partition: a few partitions, so a list beats a map.
        let mut pending: Vec<Staging> = Vec::new();
        // Chunks whose partition's queue was full, by partition.
        let mut parked: Vec<Parked> = Vec::new();
        // Keys, headers and timestamps are copied only for EventMetadata and for
        // dead-lettering, which keeps the original key and headers.
        let full = self.shared.spec.with_metadata || self.shared.dead_letter.is_some();
        let mut last_flush = Instant::now();
        let mut last_commit = Instant::now();
        let mut polls = 0u32;
        let mut said_joining = false;
        while !self.stop.load(Ordering::SeqCst) {
            if !parked.is_empty() {
                self.unpark(&mut parked);
            }
            // Drain what librdkafka has fetched without waiting; wait only when idle,
            // and only briefly while chunks are parked.
            let timeout = if !pending.is_empty() {
                Duration::ZERO
            } else if parked.is_empty() {
                Duration::from_millis(100)
            } else {
                PARKED_POLL
            };
            let polled = consumer.poll(timeout);
            let drained = polled.is_none();
            // Set (SeqCst) in the rebalance callback, which runs inside `poll`.
            if consumer.context().has_revoked.swap(false, Ordering::SeqCst) {
                let revoked: Vec<i32> =
                    std::mem::take(&mut *consumer.context().revoked.lock_unpoisoned());
                pending.retain(|c| !revoked.contains(&c.partition));
                // A paused partition stays paused in librdkafka across a new
                // assignment: the rebalance callback resumes what it assigns.
                parked.retain(|p| !revoked.contains(&p.partition));
            }
            match polled {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let i = match pending.iter().position(|c| c.partition == partition) {
                        Some(i) => i,
                        None => {
                            pending.push(Staging::new(partition));
                            pending.len() - 1
                        }
                    };
                    let chunk = &mut pending[i];
                    chunk.push(&message, full);
                    if chunk.is_full() {
                        drop(message);
                        let (partition, chunk) = pending.swap_remove(i).finish();
                        self.dispatch(&mut parked, partition, chunk);
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "consumer error")
                }
                None => {}
            }
            // Hand over partial chunks once librdkafka has nothing more for now, or
            // after FLUSH_EVERY while a backlog keeps it busy, so that a quiet
            // partition's messages do not wait behind a busy one's.
            // (The clock is read every 64 polls only.)
            polls = polls.wrapping_add(1);
            if !pending.is_empty()
                && (drained || (polls % 64 == 0 && last_flush.elapsed() >= FLUSH_EVERY))
            {
                for (partition, chunk) in pending.drain(..).map(Staging::finish) {
                    self.dispatch(&mut parked, partition, chunk);
                }
                last_flush = Instant::now();
            }
            if drained && !said_joining && self.joining.since.elapsed() >= JOIN_PATIENCE {
                self.say_joining();
                said_joining = true;
            }
            if (drained || polls % 1024 == 0) && last_commit.elapsed() >= self.commit_every {
                self.store_progress();
                commit(&consumer, "periodic commit failed; the next one retries");
                last_commit = Instant::now();
            }
        }
        // Shutdown: finish (or abandon) what is in hand, commit it, leave the group.
        // Parked chunks are dropped unprocessed (and uncommitted), like prefetched ones.
        drop(parked);
        let tasks: Vec<(i32, PartitionTask)> = self.partitions.lock_unpoisoned().drain().collect();
        let stopped = stop_partitions(&self.shared, tasks, self.grace);
        if !stopped.abandoned.is_empty() {
            tracing::warn!(
                partitions = ?stopped.abandoned,
                "handlers did not finish within the grace period; their messages will be redelivered"
            );
        }
        commit(
            &consumer,
            "final commit failed; it is tried again as the consumer leaves its group, and if that fails too, the messages processed since the last commit are delivered again",
        );
        let unsaved: Vec<i32> = consumer
            .context()
            .unsaved
            .lock_unpoisoned()
            .keys()
            .copied()
            .collect();
        if !unsaved.is_empty() {
            tracing::warn!(
                partitions = ?unsaved,
                "the broker refused to commit progress during a rebalance and these partitions did not come back before the stop; their last processed messages will be redelivered"
            );
        }
        consumer
    }

    /// Hands messages to their partition's task, starting the task on first use; parks
    /// them when the task's queue is full (see [`Parked`]).
    fn dispatch(&self, parked: &mut Vec<Parked>, partition: i32, chunk: Vec<Fetched>) {
        if let Some(p) = parked.iter_mut().find(|p| p.partition == partition) {
            p.messages += chunk.len();
            p.bytes += chunk_bytes(&chunk);
            p.chunks.push_back(chunk);
            if !p.paused && (p.messages > PARK_LIMIT || p.bytes > PARK_BYTES) {
                p.paused = self.pause(partition, true);
            }
            return;
        }
        let tx = {
            let mut map = self.partitions.lock_unpoisoned();
            let task = map.entry(partition).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(PARTITION_QUEUE / CHUNK);
                let state = Arc::new(PartitionState::default());
                let span = tracing::info_span!(parent: &self.shared.span, "partition", partition);
                let task =
                    partition_task(Arc::clone(&self.shared), partition, rx, Arc::clone(&state));
                let task = self.shared.app.scope(task).instrument(span);
                let handle = self.runtime.spawn(task);
                PartitionTask { tx, state, handle }
            });
            task.tx.clone()
        };
        let chunk = match tx.try_send(chunk) {
            Ok(()) => return,
            Err(TrySendError::Full(chunk)) => chunk,
            // The task ended: its partition is being revoked or the consumer stops.
            Err(TrySendError::Closed(_)) => return,
        };
        // A task that keeps up makes room within microseconds: wait that long, as
        // blocking would, rather than park (and, past PARK_LIMIT, pause and fetch
        // again) for a queue that is full only for a moment.
        // `block_on` panics if the runtime has shut down meanwhile (an app dropped
        // without a stop outlives it on this thread): the chunk is then parked too.
        let still_full = {
            let room = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.runtime
                    .block_on(async { tokio::time::timeout(ROOM_WAIT, tx.reserve()).await })
            }));
            match room {
                Ok(Ok(Ok(permit))) => {
                    permit.send(chunk);
                    None
                }
                // The task ended meanwhile.
                Ok(Ok(Err(_))) => None,
                Ok(Err(_)) | Err(_) => Some(chunk),
            }
        };
        // Still full: the chunk waits here, and the poll thread goes on.
        if let Some(chunk) = still_full {
            parked.push(Parked {
                partition,
                tx,
                messages: chunk.len(),
                bytes: chunk_bytes(&chunk),
                chunks: VecDeque::from([chunk]),
                paused: false,
            });
        }
    }

    /// Moves parked chunks into the queues that made room, in order, and resumes the
    /// partitions that have nothing parked any more.
    fn unpark(&self, parked: &mut Vec<Parked>) {
        parked.retain_mut(|p| {
            while !p.chunks.is_empty() {
                // Most rounds find the queue still full: say so without touching the
                // chunk (this runs once per poll while anything is parked).
                if p.tx.capacity() == 0 && !p.tx.is_closed() {
                    return true;
                }
                let Some(chunk) = p.chunks.pop_front() else {
                    break;
                };
                let (n, bytes) = (chunk.len(), chunk_bytes(&chunk));
                match p.tx.try_send(chunk) {
                    Ok(()) => {
                        p.messages -= n;
                        p.bytes -= bytes;
                    }
                    Err(TrySendError::Full(chunk)) => {
                        p.chunks.push_front(chunk);
                        return true;
                    }
                    Err(TrySendError::Closed(_)) => break,
                }
            }
            // A resume librdkafka did not take is tried again on the next round: the
            // partition would otherwise stay paused until the next rebalance.
            p.paused && !self.pause(p.partition, false)
        });
    }

    /// Pauses (or resumes) fetching `partition`; true when librdkafka took it.
    fn pause(&self, partition: i32, pause: bool) -> bool {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.shared.topic, partition);
        let done = if pause {
            self.shared.consumer.pause(&tpl)
        } else {
            self.shared.consumer.resume(&tpl)
        };
        match done {
            Ok(()) => {
                tracing::debug!(partition, pause, "fetching paused or resumed");
                true
            }
            Err(error) => {
                tracing::warn!(partition, pause, error = %error, "cannot pause or resume fetching this partition; trying again");
                false
            }
        }
    }

    /// Logs that the consumer still has no partitions and what it waits for, unless
    /// its group has answered by now (called once).
    fn say_joining(&self) {
        if self
            .shared
            .consumer
            .context()
            .joined
            .load(Ordering::Relaxed)
        {
            return;
        }
        let Joining {
            group_id,
            session_timeout,
            since,
        } = &self.joining;
        tracing::warn!(
            group_id = %group_id,
            topic = %self.shared.topic,
            waiting_s = since.elapsed().as_secs(),
            session_timeout_ms = session_timeout.as_millis() as u64,
            "still joining consumer group {group_id}: the group assigns partitions once its previous members rejoined or left; \
             a member that stopped without leaving (killed, or cut off) keeps its place until its session times out, \
             up to session.timeout.ms ({} s) after it stopped",
            session_timeout.as_secs()
        );
    }

    /// Stores every partition's processed offset for the commit that follows, so that
    /// the committed position trails the processed one by at most a commit interval.
    /// Partition tasks store their progress themselves only when they run out of
    /// messages, which a backlog can postpone indefinitely.
    fn store_progress(&self) {
        let map = self.partitions.lock_unpoisoned();
        for (&partition, task) in map.iter() {
            store(&self.shared, partition, task.state.processed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_message_reserves_its_own_size_not_a_chunk_of_them() {
        const MB3: usize = 3 << 20;
        let mut chunk = Staging::new(0);
        let payload = vec![b'x'; MB3];
        chunk.push_parts(0, Some(b"k"), Some(&payload), Vec::new(), None);
        assert!(
            chunk.buf.capacity() < 2 * MB3,
            "reserved {} bytes for one message of {MB3}",
            chunk.buf.capacity()
        );
        assert!(
            chunk.is_full(),
            "a chunk over CHUNK_BYTES is handed over at once"
        );
        let (_, messages) = chunk.finish();
        assert_eq!(messages[0].key(), Some(&b"k"[..]));
        assert_eq!(messages[0].payload().map(<[u8]>::len), Some(MB3));

        let mut small = Staging::new(1);
        small.push_parts(7, None, Some(b"hello"), Vec::new(), None);
        assert!(!small.is_full());
        assert!(small.buf.capacity() <= CHUNK_BYTES);
        let (partition, messages) = small.finish();
        assert_eq!((partition, messages[0].offset), (1, 7));
        assert_eq!(messages[0].payload(), Some(&b"hello"[..]));
    }
}
