//! A shared broker ([`TEST_BROKER_ENV`](super::TEST_BROKER_ENV)): Testers take turns
//! there, the app's topics are created first and its renamed groups start at the end.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::Notify;

use crate::app::FastKafka;
use crate::error::{Error, Result};
use crate::sync::LockUnpoisoned;

/// A test's turn on a shared broker: Testers of one test binary run their apps one
/// test at a time there. A test holds it for as long as any of its Testers lives, and
/// may start more (they share the turn: a test is one thread, which is how libtest and
/// `#[tokio::test]` run it).
pub(super) struct Turn;

/// Which test thread holds the turn, and how many of its Testers live.
static TURN_HOLDER: Mutex<Option<(std::thread::ThreadId, usize)>> = Mutex::new(None);
static TURN_FREED: Notify = Notify::const_new();

impl Turn {
    pub(super) async fn take() -> Turn {
        let me = std::thread::current().id();
        loop {
            // Registered before the check, so that a release in between wakes it.
            let freed = TURN_FREED.notified();
            {
                let mut holder = TURN_HOLDER.lock_unpoisoned();
                match &mut *holder {
                    None => {
                        *holder = Some((me, 1));
                        return Turn;
                    }
                    Some((thread, testers)) if *thread == me => {
                        *testers += 1;
                        return Turn;
                    }
                    Some(_) => {}
                }
            }
            freed.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut holder = TURN_HOLDER.lock_unpoisoned();
        if let Some((_, testers)) = &mut *holder {
            *testers -= 1;
            if *testers == 0 {
                *holder = None;
                TURN_FREED.notify_waiters();
            }
        }
    }
}

/// What a Tester creates at start: what the app creates, and every other topic its
/// functions read or write (with the embedded broker's default partition count).
pub(super) fn topics_for_test(app: &FastKafka) -> Vec<(String, i32)> {
    let mut topics = app.topics_to_create();
    let used = app
        .consumers()
        .filter(|s| s.broker.is_none())
        .map(|s| s.topic)
        .chain(
            app.producers()
                .filter(|s| s.broker.is_none())
                .map(|s| s.topic),
        );
    for topic in used {
        if !topics.iter().any(|(t, _)| t == topic) {
            topics.push((topic.to_string(), crate::embedded::DEFAULT_PARTITIONS));
        }
    }
    topics
}

/// Before a Tester runs `app` on a shared broker under new group names (the
/// app's with `suffix`): commits, for each new group, the end of every topic its
/// consumers read, so that they start at what is new.
///
/// Returns a future that does not borrow `app`.
pub(super) fn start_groups_at_end(
    app: &FastKafka,
    broker: &str,
    suffix: &str,
) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
    let resolved = app.resolve_broker(broker)?;
    let (topics, replication, timeout) = (
        app.topics.clone(),
        app.replication_factor,
        app.startup_timeout,
    );
    let app_group = app.group_id();
    let mut groups: Vec<(String, &'static str)> = Vec::new();
    for spec in app.consumers() {
        let group = spec
            .group_id
            .map_or_else(|| app_group.clone(), str::to_string);
        groups.push((format!("{group}-{suffix}"), spec.topic));
    }
    Ok(async move {
        crate::topics::ensure(&resolved, &topics, replication, timeout).await?;
        let (bootstrap, properties) = (resolved.bootstrap.clone(), resolved.properties.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            for (group, topic) in groups {
                let mut config = ClientConfig::new();
                config
                    .set("bootstrap.servers", &bootstrap)
                    .set("group.id", &group)
                    .set("enable.auto.commit", "false");
                for (k, v) in &properties {
                    config.set(k, v);
                }
                let consumer: BaseConsumer = config.create()?;
                let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                let Some(t) = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                else {
                    // Not there yet: the app creates it, and reads it from the start.
                    continue;
                };
                let mut ends = TopicPartitionList::new();
                for p in t.partitions() {
                    let (_, high) =
                        consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
                    ends.add_partition_offset(topic, p.id(), Offset::Offset(high))?;
                }
                consumer.commit(&ends, CommitMode::Sync)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::panicked("preparation of the test's consumer groups", e))?
    })
}
