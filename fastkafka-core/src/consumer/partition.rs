//! One task per assigned partition: handles its messages in order, stores its progress
//! for commit, and stops (finishing the message in hand) when told to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use tokio::sync::mpsc;

use super::handle::{handle, handle_one};
use super::poll::Fetched;
use super::Shared;
use crate::sync::LockUnpoisoned;

/// A task stores its progress for commit at least every this many messages (and
/// whenever it has nothing queued).
const STORE_EVERY: u64 = 1024;

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

/// Stores `offset` (the last settled message of `partition`) for the next commit.
pub(super) fn store(shared: &Shared, partition: i32, offset: i64) {
    if offset < 0 {
        return;
    }
    match shared
        .consumer
        .store_offset(&shared.topic, partition, offset)
    {
        Ok(()) => {
            let mut stored = shared.consumer.context().stored.lock_unpoisoned();
            let next = stored.entry(partition).or_insert(offset + 1);
            *next = (*next).max(offset + 1);
        }
        // The partition was revoked meanwhile: its new owner redelivers.
        Err(e) => {
            tracing::debug!(partition, offset, error = %e, "offset not stored")
        }
    }
}

/// What [`stop_partitions`] left behind.
pub(super) struct Stopped {
    /// Partitions whose task did not finish in time: their message in hand is not
    /// committed.
    pub(super) abandoned: Vec<i32>,
    /// `(partition, offset of the next message to read)` where something was settled.
    pub(super) settled: Vec<(i32, i64)>,
}

/// Stops the given partitions' tasks, waits (up to `grace`) for the message each
/// holds, and stores what each settled.
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

/// Handles one partition's messages in order.
///
/// The task is marked busy from taking a chunk off the queue until the queue is empty
/// again (one lock for each, per chunk rather than per message); it checks `stop`
/// before each message, after marking itself busy, so that once `stop_partitions`
/// sees it idle it starts no further message.
pub(super) async fn partition_task(
    shared: Arc<Shared>,
    partition: i32,
    mut rx: mpsc::Receiver<Vec<Fetched>>,
    state: Arc<PartitionState>,
) {
    let spec = shared.spec;
    let mut buffer: std::collections::VecDeque<Fetched> = std::collections::VecDeque::new();
    let mut unstored = 0u64;
    loop {
        if buffer.is_empty() {
            state.set_busy(false);
            // Nothing queued: a good moment to store the progress for commit.
            if unstored > 0 {
                store(&shared, partition, state.processed.load(Ordering::SeqCst));
                unstored = 0;
            }
            match rx.recv().await {
                Some(chunk) => buffer.extend(chunk),
                None => break,
            }
            state.set_busy(true);
        }
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let (done, last, count) = if spec.batch {
            let deadline = tokio::time::Instant::now() + spec.max_wait;
            while buffer.len() < spec.max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(chunk)) => buffer.extend(chunk),
                    _ => break,
                }
            }
            let n = buffer.len().min(spec.max_batch);
            let batch: Vec<Fetched> = buffer.drain(..n).collect();
            let last = batch.last().map_or(-1, |m| m.offset);
            (handle(&shared, &state, batch).await, last, n as u64)
        } else {
            let Some(m) = buffer.pop_front() else {
                continue;
            };
            (handle_one(&shared, &state, &m).await, m.offset, 1)
        };
        if !done {
            break;
        }
        state.processed.store(last, Ordering::SeqCst);
        unstored += count;
        if unstored >= STORE_EVERY {
            store(&shared, partition, last);
            unstored = 0;
        }
    }
    state.set_busy(false);
}
