//! Dead-lettering: a message that cannot be decoded or handled goes to the function's
//! dead-letter topic, with headers saying why and where from, or is skipped.

use std::sync::atomic::{AtomicBool, Ordering};

use super::fetched::Fetched;
use super::retry_backoff;
use super::Shared;
use crate::event::KafkaEvent;
use crate::producer::send_event;

/// Header names fastkafka adds to a dead-lettered message.
///
/// The `DeadLetter` message of the app's AsyncAPI document lists each of them, with
/// its description and values, from one table in this module.
pub mod dead_letter_headers {
    use crate::headers::{HeaderSpec, HeaderValues};

    /// Why the message failed: the decode or handler error.
    pub const ERROR: &str = "fastkafka.error";
    /// `decode`, `handler`, or `output` (the handler succeeded but a message it
    /// produced was not delivered): one of [`STAGES`].
    pub const STAGE: &str = "fastkafka.error.stage";
    /// The topic it was read from.
    pub const TOPIC: &str = "fastkafka.original.topic";
    /// Its partition there.
    pub const PARTITION: &str = "fastkafka.original.partition";
    /// Its offset there.
    pub const OFFSET: &str = "fastkafka.original.offset";
    /// `true` when the original record had no payload (a tombstone): the dead-letter
    /// record's empty payload stands for none.
    pub const TOMBSTONE: &str = "fastkafka.original.tombstone";
    /// Set when the dead-letter record carries no payload because the dead-letter
    /// topic refused it permanently (e.g. too large): the original payload's size in
    /// bytes.
    pub const ORIGINAL_SIZE: &str = "fastkafka.original.size";
    /// With [`ORIGINAL_SIZE`]: why the dead-letter topic refused the payload.
    pub const DEAD_LETTER_ERROR: &str = "fastkafka.dead_letter.error";

    /// The values of [`STAGE`]: where the message failed.
    pub const STAGES: &[&str] = &["decode", "handler", "output"];

    /// Every header above as the AsyncAPI document describes it: the one table the
    /// `DeadLetter` message's `headers` schema is made from.
    pub(crate) const SCHEMA: &[HeaderSpec] = &[
        HeaderSpec {
            name: ERROR,
            description: "Why it failed: the decode error, the handler's last error, or why an output it produced was not delivered.",
            values: HeaderValues::Text,
            required: true,
        },
        HeaderSpec {
            name: STAGE,
            description: "Where it failed: decoding the payload (`decode`), the handler (`handler`), or delivering a message the handler produced (`output`).",
            values: HeaderValues::OneOf(STAGES),
            required: true,
        },
        HeaderSpec {
            name: TOPIC,
            description: "The topic it was read from.",
            values: HeaderValues::Text,
            required: true,
        },
        HeaderSpec {
            name: PARTITION,
            description: "Its partition there, in decimal.",
            values: HeaderValues::Text,
            required: true,
        },
        HeaderSpec {
            name: OFFSET,
            description: "Its offset there, in decimal.",
            values: HeaderValues::Text,
            required: true,
        },
        HeaderSpec {
            name: TOMBSTONE,
            description: "Set when the original record had no payload (a tombstone): the empty payload here stands for none.",
            values: HeaderValues::OneOf(&["true"]),
            required: false,
        },
        HeaderSpec {
            name: ORIGINAL_SIZE,
            description: "Set when this record carries no payload because the dead-letter topic refused it permanently (e.g. too large): the original payload's size in bytes, in decimal.",
            values: HeaderValues::Text,
            required: false,
        },
        HeaderSpec {
            name: DEAD_LETTER_ERROR,
            description: "With `fastkafka.original.size`: why the dead-letter topic refused the original payload.",
            values: HeaderValues::Text,
            required: false,
        },
    ];
}

/// Sends a failed message to the dead-letter topic (waiting for the broker to take it),
/// or logs that it is skipped. False if the partition was stopped before that succeeded.
///
/// A transient failure of the dead-letter write (a broker down, a timeout) is retried
/// until it succeeds or the partition stops. A permanent one (the payload is too large
/// for the producer or the broker, the broker calls the record invalid) cannot succeed
/// by retrying, and must not block the partition: the message is dead-lettered again
/// without its payload, with its original size and the error in headers
/// ([`dead_letter_headers::ORIGINAL_SIZE`], [`dead_letter_headers::DEAD_LETTER_ERROR`]).
/// If even that fails permanently, the message is skipped, logged as an error and
/// counted ([`ConsumerCounts::skipped`]).
pub(super) async fn settle_failed(
    shared: &Shared,
    stop: &AtomicBool,
    m: &Fetched,
    stage: &str,
    error: &str,
) -> bool {
    debug_assert!(
        dead_letter_headers::STAGES.contains(&stage),
        "stage `{stage}` is not in dead_letter_headers::STAGES, which the docs list"
    );
    let spec = shared.spec;
    let Some(dlq) = &shared.dead_letter else {
        tracing::warn!(
            topic = spec.topic,
            partition = m.partition,
            offset = m.offset,
            "skipping the message (no dead_letter topic configured); it is committed without being processed"
        );
        shared.counts.skipped.fetch_add(1, Ordering::Relaxed);
        return true;
    };
    let mut event = KafkaEvent::new(m.payload().unwrap_or_default().to_vec());
    event.key = m.key().map(<[u8]>::to_vec);
    event.headers = m.headers.clone();
    event.headers.extend([
        (
            dead_letter_headers::ERROR.to_string(),
            error.as_bytes().to_vec(),
        ),
        (
            dead_letter_headers::STAGE.to_string(),
            stage.as_bytes().to_vec(),
        ),
        (
            dead_letter_headers::TOPIC.to_string(),
            spec.topic.as_bytes().to_vec(),
        ),
        (
            dead_letter_headers::PARTITION.to_string(),
            m.partition.to_string().into_bytes(),
        ),
        (
            dead_letter_headers::OFFSET.to_string(),
            m.offset.to_string().into_bytes(),
        ),
    ]);
    if m.payload().is_none() {
        event
            .headers
            .push((dead_letter_headers::TOMBSTONE.to_string(), b"true".to_vec()));
    }
    let mut backoff = retry_backoff();
    let mut without_payload = false;
    loop {
        let sent = match send_event(dlq, event.clone()).await {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(d) => {
                let what = if m.payload().is_none() {
                    "tombstone (a message without payload) sent to the dead-letter topic, where it is written with an empty payload and the header fastkafka.original.tombstone=true"
                } else {
                    "message sent to the dead-letter topic"
                };
                tracing::warn!(
                    topic = spec.topic,
                    partition = m.partition,
                    offset = m.offset,
                    dead_letter = %d.topic,
                    dead_letter_partition = d.partition,
                    dead_letter_offset = d.offset,
                    without_payload,
                    "{what}"
                );
                let counter = if without_payload {
                    &shared.counts.dead_lettered_without_payload
                } else {
                    &shared.counts.dead_lettered
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e) if e.is_permanent() && !without_payload => {
                tracing::error!(
                    topic = spec.topic,
                    partition = m.partition,
                    offset = m.offset,
                    size = event.message.len(),
                    error = %e,
                    "the dead-letter topic refused the message permanently; dead-lettering it without its payload (headers fastkafka.original.size and fastkafka.dead_letter.error say why)"
                );
                let size = event.message.len();
                event.message = Vec::new();
                event.headers.extend([
                    (
                        dead_letter_headers::ORIGINAL_SIZE.to_string(),
                        size.to_string().into_bytes(),
                    ),
                    (
                        dead_letter_headers::DEAD_LETTER_ERROR.to_string(),
                        e.to_string().into_bytes(),
                    ),
                ]);
                without_payload = true;
            }
            Err(e) if e.is_permanent() => {
                tracing::error!(
                    topic = spec.topic,
                    partition = m.partition,
                    offset = m.offset,
                    error = %e,
                    "the dead-letter topic refused even the message without its payload; skipping it: it is committed without being processed or dead-lettered"
                );
                shared.counts.skipped.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write to the dead-letter topic; retrying");
                backoff.wait().await;
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
            }
        }
    }
}
