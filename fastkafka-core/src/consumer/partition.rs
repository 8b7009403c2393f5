//! One task per assigned partition: handles its messages in order, keeps the inputs
//! whose outputs are still on their way, stores its progress for commit, and stops
//! (finishing the message in hand and waiting for what is in flight) when told to.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use tokio::sync::{mpsc, Notify};

use super::fetched::Fetched;
use super::handle::{count_handled, handle, handle_one, retry_failed_output, Outcome};
use super::spec::Handler;
use super::Shared;
use crate::sync::LockUnpoisoned;
use crate::tracking::{Outputs, Settled};

/// One partition's task, as the poll thread and the rebalance callback see it.
pub(super) struct PartitionTask {
    pub(super) tx: mpsc::Sender<Vec<Fetched>>,
    pub(super) state: Arc<PartitionState>,
    pub(super) handle: tokio::task::JoinHandle<()>,
}

pub(super) type Partitions = Arc<Mutex<HashMap<i32, PartitionTask>>>;

/// Whether a partition's task may go on, whether it holds a message right now, and
/// the offset of the last message it settled.
pub(super) struct PartitionState {
    pub(super) stop: AtomicBool,
    busy: Mutex<bool>,
    idle: Condvar,
    processed: std::sync::atomic::AtomicI64,
}

impl Default for PartitionState {
    fn default() -> Self {
        PartitionState {
            stop: AtomicBool::new(false),
            busy: Mutex::new(false),
            idle: Condvar::new(),
            processed: std::sync::atomic::AtomicI64::new(-1),
        }
    }
}

impl PartitionState {
    /// The offset of the last message settled, in order (-1 for none yet).
    pub(super) fn processed(&self) -> i64 {
        self.processed.load(Ordering::SeqCst)
    }

    fn set_busy(&self, busy: bool) {
        let mut b = self.busy.lock_unpoisoned();
        *b = busy;
        if !busy {
            self.idle.notify_all();
        }
    }

    /// Blocks until the task holds no message or `deadline` passes; true if idle.
    fn wait_idle(&self, deadline: Instant) -> bool {
        let mut busy = self.busy.lock_unpoisoned();
        while *busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            busy = self
                .idle
                .wait_timeout(busy, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Stores `offset` (the last settled message of `partition`) for the next commit,
/// unless a later one is stored already: the partition's task and the poll thread
/// (before each periodic commit) both store, and the stored position never goes back.
pub(super) fn store(shared: &Shared, partition: i32, offset: i64) {
    if offset < 0 {
        return;
    }
    let mut stored = shared.consumer.context().stored.lock_unpoisoned();
    if stored.get(&partition).is_some_and(|&next| next > offset) {
        return;
    }
    match shared
        .consumer
        .store_offset(&shared.topic, partition, offset)
    {
        Ok(()) => {
            stored.insert(partition, offset + 1);
        }
        // The partition was revoked meanwhile: its new owner redelivers.
        Err(e) => {
            tracing::debug!(partition, offset, error = %e, "offset not stored")
        }
    }
}

/// What [`stop_partitions`] left behind.
pub(super) struct Stopped {
    /// Partitions whose task did not finish in time: their message in hand, and the
    /// inputs whose outputs were not all acknowledged, are not committed.
    pub(super) abandoned: Vec<i32>,
    /// `(partition, offset of the next message to read)` where something was settled.
    pub(super) settled: Vec<(i32, i64)>,
}

/// Stops the given partitions' tasks, waits (up to `grace`) for the message each
/// holds and the outputs of its inputs in flight, and stores what each settled.
pub(super) fn stop_partitions(
    shared: &Shared,
    tasks: Vec<(i32, PartitionTask)>,
    grace: Duration,
) -> Stopped {
    for (_, task) in &tasks {
        task.state.stop.store(true, Ordering::SeqCst);
    }
    let deadline = Instant::now() + grace;
    let mut stopped = Stopped {
        abandoned: Vec::new(),
        settled: Vec::new(),
    };
    for (p, task) in tasks {
        drop(task.tx);
        if !task.state.wait_idle(deadline) {
            task.handle.abort();
            stopped.abandoned.push(p);
        }
        let processed = task.state.processed.load(Ordering::SeqCst);
        store(shared, p, processed);
        if processed >= 0 {
            stopped.settled.push((p, processed + 1));
        }
    }
    stopped
}

/// Inputs handled whose outputs are not all acknowledged yet, at most this many per
/// partition: then the partition waits (back-pressure) for the oldest to settle.
///
/// An input waits for its outputs for about one producer round trip (`linger.ms` plus
/// the broker's answer, tens of milliseconds under load); a partition handling 100,000
/// inputs a second needs a few thousand in flight to keep going. 1,024 held the
/// pipeline bench at half the raw rdkafka figure; 8,192 lets it match.
pub(super) const MAX_IN_FLIGHT: usize = 8192;

/// And at most this many bytes of input payload and key per partition, so that large
/// messages do not hold thousands of megabytes while their outputs are on their way.
pub(super) const MAX_IN_FLIGHT_BYTES: usize = 32 << 20;

/// An input handled, waiting for its outputs: one message, or a batch.
struct InFlight {
    /// The messages the handler was given (for a retry or the dead-letter topic).
    inputs: Inputs,
    /// The offset that is processed once this settles (a batch's last message).
    last: i64,
    /// How many messages that covers.
    count: u64,
    /// `None`: already settled (dead-lettered or skipped), waiting only for its turn.
    outputs: Option<Arc<Outputs>>,
    /// Payload and key bytes of `inputs`, for [`MAX_IN_FLIGHT_BYTES`].
    bytes: usize,
}

enum Inputs {
    One(Fetched),
    Batch(Vec<Fetched>),
}

impl Inputs {
    fn as_slice(&self) -> &[Fetched] {
        match self {
            Inputs::One(m) => std::slice::from_ref(m),
            Inputs::Batch(ms) => ms,
        }
    }
}

/// Handles one partition's messages in order.
///
/// Each handler call's outputs are tied to its input (`tracking.rs`); the handler
/// returns without awaiting them and the next input is handled meanwhile, up to
/// [`MAX_IN_FLIGHT`] inputs. The partition's processed offset advances over inputs in
/// order, each once its outputs are all acknowledged; an input whose output failed is
/// retried, then dead-lettered (`handle::retry_failed_output`), before any later input
/// counts as processed.
///
/// The task is busy from taking a chunk off the queue until the queue is empty and no
/// input is in flight (one lock for each, per chunk rather than per message); it checks
/// `stop` before each message, after marking itself busy, so that once
/// `stop_partitions` sees it idle it starts no further message and has nothing in
/// flight. Stopped, it waits for its inputs in flight and counts as processed only
/// those whose outputs were acknowledged.
pub(super) async fn partition_task(
    shared: Arc<Shared>,
    partition: i32,
    mut rx: mpsc::Receiver<Vec<Fetched>>,
    state: Arc<PartitionState>,
) {
    let spec = shared.spec;
    let wake = Arc::new(Notify::new());
    let mut buffer: VecDeque<Fetched> = VecDeque::new();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut progress = Progress {
        shared: &shared,
        state: &state,
        partition,
        unstored: 0,
        bytes_in_flight: 0,
    };
    loop {
        if !progress.settle(&mut in_flight, &wake).await {
            break;
        }
        if in_flight.len() >= MAX_IN_FLIGHT || progress.bytes_in_flight >= MAX_IN_FLIGHT_BYTES {
            wake.notified().await;
            continue;
        }
        if buffer.is_empty() {
            if in_flight.is_empty() {
                state.set_busy(false);
                // Nothing queued: a good moment to store the progress for commit.
                progress.store_now();
                match rx.recv().await {
                    Some(chunk) => buffer.extend(chunk),
                    None => break,
                }
                state.set_busy(true);
            } else {
                tokio::select! {
                    chunk = rx.recv() => match chunk {
                        Some(chunk) => buffer.extend(chunk),
                        None => break,
                    },
                    () = wake.notified() => continue,
                }
            }
        }
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let entry = match spec.handler {
            Handler::Batch {
                call,
                max_batch,
                max_wait,
            } => {
                let deadline = tokio::time::Instant::now() + max_wait;
                while buffer.len() < max_batch {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(chunk)) => buffer.extend(chunk),
                        _ => break,
                    }
                }
                let n = buffer.len().min(max_batch);
                let batch: Vec<Fetched> = buffer.drain(..n).collect();
                let last = batch.last().map_or(-1, |m| m.offset);
                let (outcome, given) = handle(&shared, &state.stop, batch, call, &wake).await;
                in_flight_entry(outcome, Inputs::Batch(given), last, n as u64)
            }
            Handler::One(call) => {
                let Some(m) = buffer.pop_front() else {
                    continue;
                };
                let outcome = handle_one(&shared, &state.stop, &m, call, &wake).await;
                let last = m.offset;
                in_flight_entry(outcome, Inputs::One(m), last, 1)
            }
        };
        let Some(entry) = entry else {
            break;
        };
        progress.bytes_in_flight += entry.bytes;
        in_flight.push_back(entry);
    }
    // Stopped, or the queue closed: what is in flight settles (or the grace period
    // ends and the task is aborted); nothing is retried any more.
    while !in_flight.is_empty() {
        if !progress.settle(&mut in_flight, &wake).await {
            break;
        }
        if !in_flight.is_empty() {
            wake.notified().await;
        }
    }
    progress.store_now();
    state.set_busy(false);
}

/// The entry for an input just handled; `None` when the partition stopped first.
fn in_flight_entry(outcome: Outcome, inputs: Inputs, last: i64, count: u64) -> Option<InFlight> {
    let outputs = match outcome {
        Outcome::Handled(outputs) => Some(outputs),
        Outcome::Settled => None,
        Outcome::Stopped => return None,
    };
    let bytes = inputs.as_slice().iter().map(Fetched::size).sum();
    Some(InFlight {
        inputs,
        last,
        count,
        outputs,
        bytes,
    })
}

/// A partition's processed offset, advanced over inputs in order as they settle.
struct Progress<'a> {
    shared: &'a Shared,
    state: &'a PartitionState,
    partition: i32,
    /// Messages processed since the offset was last stored.
    unstored: u64,
    /// Payload and key bytes of the inputs in flight.
    bytes_in_flight: usize,
}

impl Progress<'_> {
    /// Settles the oldest inputs in flight whose outputs are done: acknowledged ones
    /// count as processed; one whose output failed is retried, then dead-lettered, first
    /// (not while stopping: it stays unprocessed). False when the partition stopped with
    /// an input unsettled.
    async fn settle(&mut self, in_flight: &mut VecDeque<InFlight>, wake: &Arc<Notify>) -> bool {
        while let Some(front) = in_flight.front() {
            let settled = front
                .outputs
                .as_ref()
                .map_or(Settled::Acknowledged, |o| o.settled());
            match settled {
                Settled::Pending => return true,
                Settled::Acknowledged => {
                    if front.outputs.is_some() {
                        count_handled(self.shared, front.inputs.as_slice().len());
                    }
                }
                Settled::Failed(error) => {
                    if self.state.stop.load(Ordering::SeqCst) {
                        tracing::warn!(
                            offset = front.inputs.as_slice().first().map_or(front.last, |m| m.offset),
                            error = error.message,
                            "an output of this input failed while the partition stops; it is not committed and will be processed again"
                        );
                        return false;
                    }
                    let inputs = front.inputs.as_slice();
                    if !retry_failed_output(self.shared, &self.state.stop, inputs, error, wake)
                        .await
                    {
                        return false;
                    }
                }
            }
            let Some(done) = in_flight.pop_front() else {
                break;
            };
            self.bytes_in_flight -= done.bytes;
            self.state.processed.store(done.last, Ordering::SeqCst);
            self.unstored += done.count;
        }
        true
    }

    /// Stores the processed offset for the next commit, if it moved.
    fn store_now(&mut self) {
        if self.unstored > 0 {
            store(
                self.shared,
                self.partition,
                self.state.processed.load(Ordering::SeqCst),
            );
            self.unstored = 0;
        }
    }
}
