//! [`Fetched`]: a consumed message as the partition's task, the handler and the
//! dead-letter code carry it.

use std::sync::Arc;

use super::spec::EventMetadata;

/// A consumed message, copied out of librdkafka's buffer for the partition's task.
/// Its key and payload live in `buf`, shared by the messages of one chunk: one
/// allocation per chunk, freed when the chunk's last message is dropped, rather than
/// one per message allocated on the poll thread and freed on a worker thread.
pub(super) struct Fetched {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) buf: Arc<Vec<u8>>,
    /// Where the key starts in `buf`; the payload follows it.
    pub(super) start: usize,
    /// The key's length; `None` when there is no key.
    pub(super) key_len: Option<usize>,
    /// The payload's length; `None` when there is no payload.
    pub(super) payload_len: Option<usize>,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) timestamp: Option<i64>,
}

impl Fetched {
    pub(super) fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|n| &self.buf[self.start..self.start + n])
    }

    /// The bytes of its key and payload.
    pub(super) fn size(&self) -> usize {
        self.key_len.unwrap_or(0) + self.payload_len.unwrap_or(0)
    }

    pub(super) fn payload(&self) -> Option<&[u8]> {
        let start = self.start + self.key_len.unwrap_or(0);
        self.payload_len.map(|n| &self.buf[start..start + n])
    }

    pub(super) fn metadata(&self, topic: &Arc<str>) -> EventMetadata {
        EventMetadata {
            topic: Arc::clone(topic),
            partition: self.partition,
            offset: self.offset,
            key: self.key().map(<[u8]>::to_vec),
            headers: self.headers.clone(),
            timestamp: self.timestamp,
        }
    }
}
