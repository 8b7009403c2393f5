//! The librdkafka consumer context: hands partitions over only once their handlers
//! finished and their progress is committed, and commits progress a rebalance refused
//! when the partitions come back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, Weak};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{Offset, TopicPartitionList};

use super::hooks::{HookRunner, Which};
use super::partition::{stop_partitions, PartitionTask, Partitions};
use super::Shared;
use crate::client::ClientLog;
use crate::sync::LockUnpoisoned;

/// The librdkafka consumer context: drains revoked partitions before they are handed over.
pub(super) struct RebalanceGuard {
    pub(super) function: &'static str,
    /// `consumer{function=..}`, entered wherever the consumer is polled (its poll
    /// thread, and its close), so the rebalance callbacks log inside it.
    pub(super) span: tracing::Span,
    pub(super) partitions: Partitions,
    /// Set once the poll thread has built what the callbacks need.
    pub(super) shared: OnceLock<Weak<Shared>>,
    /// Partitions revoked during the last poll: their undispatched messages are dropped.
    pub(super) revoked: Mutex<Vec<i32>>,
    /// Whether `revoked` may hold something: spares the poll loop a lock per message.
    pub(super) has_revoked: AtomicBool,
    /// Progress the broker refused to commit while partitions were handed over (a
    /// group in the middle of a rebalance may refuse commits): partition -> offset of
    /// the next message to read. Committed if the partition comes back to this member,
    /// so that it does not process the same messages again.
    pub(super) unsaved: Mutex<HashMap<i32, i64>>,
    /// The offset of the next message to read, by partition, as last stored for commit.
    pub(super) stored: Mutex<HashMap<i32, i64>>,
    /// The highest offset the broker confirmed committing for each partition, as seen
    /// by this consumer. A group whose committed offset is later found below it has
    /// lost its state (a broker restarted without its data) or was reset by hand:
    /// either way this consumer's older progress must not be committed over it.
    pub(super) confirmed: Mutex<HashMap<i32, i64>>,
    pub(super) grace: Duration,
    /// Whether the group has answered this consumer's join yet (with partitions or
    /// an empty assignment).
    pub(super) joined: AtomicBool,
    pub(super) log: ClientLog,
    pub(super) oauth: crate::security::OAuthHook,
    /// The app's rebalance hooks, if it has any.
    pub(super) hooks: Option<HookRunner>,
}

crate::client::logged_client_context!(RebalanceGuard);

impl ConsumerContext for RebalanceGuard {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let revoked: Vec<i32> = match rebalance {
            Rebalance::Revoke(tpl) => tpl.elements().iter().map(|e| e.partition()).collect(),
            Rebalance::Assign(tpl) => {
                let assigned: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.commit_unsaved(consumer, &assigned);
                return;
            }
            Rebalance::Error(_) => return,
        };
        self.revoked.lock_unpoisoned().extend(&revoked);
        self.has_revoked.store(true, Ordering::SeqCst);
        let tasks: Vec<(i32, PartitionTask)> = {
            let mut map = self.partitions.lock_unpoisoned();
            revoked
                .iter()
                .filter_map(|p| map.remove(p).map(|t| (*p, t)))
                .collect()
        };
        // Commit what is already stored before waiting for handlers in progress: the
        // group may move on while they finish (a broker can then refuse the commit
        // with RebalanceInProgress), and this keeps what can be redelivered to the
        // messages that were in hand.
        commit(
            consumer,
            "commit before handing over partitions failed; it is tried again once their handlers finish",
        );
        let mut settled = Vec::new();
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            let stopped = stop_partitions(&shared, tasks, self.grace);
            if !stopped.abandoned.is_empty() {
                tracing::warn!(
                    partitions = ?stopped.abandoned,
                    "handlers of revoked partitions did not finish within the grace period; their messages are not committed and will be redelivered"
                );
            }
            settled = stopped.settled;
        }
        let handed_over = commit(
            consumer,
            "commit before handing over partitions failed; the progress is committed if the partitions come back to this consumer, else their messages since the last commit are delivered again to the next owner",
        );
        {
            // librdkafka forgets the stored offsets of revoked partitions.
            let mut stored = self.stored.lock_unpoisoned();
            for p in &revoked {
                stored.remove(p);
            }
        }
        if !handed_over {
            let mut unsaved = self.unsaved.lock_unpoisoned();
            for (p, next) in settled {
                let entry = unsaved.entry(p).or_insert(next);
                *entry = (*entry).max(next);
            }
        }
        // After the last commit, before the partitions are handed over: the hook can
        // save what the app keeps for them, knowing their handlers are done.
        if let Some(hooks) = &self.hooks {
            hooks.run(Which::Revoked, &revoked, &self.span);
        }
        tracing::info!(partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // The poll thread pauses a partition whose queue is full; librdkafka keeps
            // an application's pause across a revoke and a new assignment, while the
            // poll thread forgets it with the revoke. Resuming a partition that is not
            // paused does nothing.
            if let Err(e) = consumer.resume(tpl) {
                tracing::warn!(error = %e, "cannot resume fetching the assigned partitions");
            }
            let assigned: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            self.joined.store(true, Ordering::Relaxed);
            tracing::info!(partitions = ?assigned, "partitions assigned");
            // Inside the poll: no message of these partitions reaches a handler before
            // the hook is done.
            if let Some(hooks) = &self.hooks {
                hooks.run(Which::Assigned, &assigned, &self.span);
            }
        }
    }
}

/// How often a commit refused right after an assignment is tried again.
const UNSAVED_COMMIT_ATTEMPTS: u32 = 3;

impl RebalanceGuard {
    /// Commits the progress a rebalance refused (see `unsaved`) for the partitions
    /// just assigned back to this member, before fetching starts there, so that
    /// fetching resumes after what was processed instead of processing it again.
    ///
    /// Only offsets ahead of the group's committed ones are committed: a partition
    /// that another member owned meanwhile keeps that member's progress. Everything
    /// below an offset committed here was processed, by this member or before it.
    fn commit_unsaved(&self, consumer: &BaseConsumer<Self>, assigned: &[i32]) {
        let mine: Vec<(i32, i64)> = {
            let mut unsaved = self.unsaved.lock_unpoisoned();
            assigned
                .iter()
                .filter_map(|p| unsaved.remove(p).map(|next| (*p, next)))
                .collect()
        };
        if mine.is_empty() {
            return;
        }
        let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut query = TopicPartitionList::new();
        for (p, _) in &mine {
            query.add_partition(&shared.topic, *p);
        }
        let committed = match consumer.committed_offsets(query, UNSAVED_FETCH_TIMEOUT) {
            Ok(committed) => committed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the group's committed offsets; messages processed before the last rebalance will be processed again");
                return;
            }
        };
        let mut ahead = TopicPartitionList::new();
        for (p, next) in &mine {
            let theirs = match committed
                .find_partition(&shared.topic, *p)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            if *next <= theirs {
                continue;
            }
            let confirmed = self.confirmed.lock_unpoisoned().get(p).copied();
            if let Some(confirmed) = confirmed.filter(|c| theirs < *c) {
                tracing::warn!(
                    topic = %shared.topic,
                    partition = *p,
                    group_committed = theirs,
                    committed_before = confirmed,
                    processed_up_to = *next,
                    "the group's committed offset went back (did the broker restart without its data, or were the offsets reset?); not committing this consumer's older progress: reading resumes from the group's offset"
                );
                continue;
            }
            // Never commit past the partition's log end: a log that ends before what
            // this member processed is not the log it processed (a broker restarted
            // without its data, an unclean leader election, a topic deleted and
            // recreated). Committing there would skip that many new messages.
            match consumer.fetch_watermarks(&shared.topic, *p, UNSAVED_FETCH_TIMEOUT) {
                Ok((_, end)) if *next > end => {
                    tracing::warn!(
                        topic = %shared.topic,
                        partition = *p,
                        processed_up_to = *next,
                        log_end = end,
                        "the partition's log ends before what this consumer processed (was it truncated or recreated?); not committing that progress: reading follows auto.offset.reset"
                    );
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(topic = %shared.topic, partition = *p, error = %e, "cannot read the partition's log end; not committing the progress a rebalance had refused: those messages will be processed again");
                    continue;
                }
            }
            // Cannot fail: a plain offset is always valid.
            let _ = ahead.add_partition_offset(&shared.topic, *p, Offset::Offset(*next));
        }
        if ahead.count() == 0 {
            return;
        }
        let partitions: Vec<i32> = ahead.elements().iter().map(|e| e.partition()).collect();
        for attempt in 1..=UNSAVED_COMMIT_ATTEMPTS {
            match consumer.commit(&ahead, CommitMode::Sync) {
                Ok(()) => {
                    tracing::info!(partitions = ?partitions, "committed the progress a rebalance had refused; its messages are not processed again");
                    return;
                }
                Err(e) if attempt == UNSAVED_COMMIT_ATTEMPTS => {
                    tracing::warn!(partitions = ?partitions, error = %e, "cannot commit the progress a rebalance had refused; those messages will be processed again");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// How long reading the group's committed offsets after an assignment may take.
const UNSAVED_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Commits the stored offsets now, and remembers them as confirmed by the broker;
/// "nothing to commit" is not worth a warning. False when the broker refused the
/// commit.
///
/// Commits are synchronous, also the periodic ones: librdkafka reports the outcome of
/// an asynchronous manual commit only to an `offset_commit_cb`, which rdkafka's
/// event-based consumer does not set, and the consumer must know what the broker
/// confirmed (see `RebalanceGuard::confirmed`). One round trip a second on the poll
/// thread.
pub(super) fn commit(consumer: &BaseConsumer<RebalanceGuard>, what: &str) -> bool {
    let guard = consumer.context();
    let stored = guard.stored.lock_unpoisoned().clone();
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {
            let mut confirmed = guard.confirmed.lock_unpoisoned();
            for (p, next) in stored {
                let entry = confirmed.entry(p).or_insert(next);
                *entry = (*entry).max(next);
            }
            true
        }
        Err(e) if is_no_offset(&e) => true,
        Err(e) => {
            tracing::warn!(error = %e, "{what}");
            false
        }
    }
}

/// True for librdkafka's "nothing to commit".
fn is_no_offset(e: &rdkafka::error::KafkaError) -> bool {
    matches!(
        e,
        rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)
    )
}
