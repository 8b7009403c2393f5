//! The embedded broker: librdkafka's mock cluster, a Kafka protocol server in this process.
//!
//! [`EmbeddedBroker`] is what `--kafka-broker embedded` runs against, and what tests
//! start to have a broker of their own; [`KafkaRequest`] names the requests it can be
//! told to fail, and [`DEFAULT_PARTITIONS`] is the partition count of the topics it
//! creates on first use.
//!
//! The broker needs the `embedded` feature (on by default): it compiles a C shim
//! against librdkafka's source tree, which rdkafka's `cmake-build` and
//! `dynamic-linking` modes do not provide. Without the feature only
//! [`DEFAULT_PARTITIONS`] is here, and `--kafka-broker embedded` is refused with an
//! error that says to enable it.

/// Partitions of a topic the embedded broker creates on first use, unless told otherwise.
pub const DEFAULT_PARTITIONS: i32 = 3;

#[cfg(feature = "embedded")]
mod broker;

#[cfg(feature = "embedded")]
pub(crate) use self::broker::{create_topic_in_process, is_in_process};
#[cfg(feature = "embedded")]
pub use self::broker::{EmbeddedBroker, KafkaRequest};

#[cfg(not(feature = "embedded"))]
pub(crate) use self::disabled::{create_topic_in_process, is_in_process, EmbeddedBroker};

/// Without the `embedded` feature: the same crate-private names, for a broker that
/// cannot start.
#[cfg(not(feature = "embedded"))]
mod disabled {
    use crate::error::{Error, Result};

    /// Stands in for the embedded broker's handle, which cannot exist without the
    /// feature: a `ResolvedBroker`'s `embedded` is always `None`.
    pub(crate) enum EmbeddedBroker {}

    impl EmbeddedBroker {
        /// Refuses `--kafka-broker embedded` with what to do instead.
        pub(crate) fn start() -> Result<Self> {
            Err(Error::Config(
                "the embedded broker is not built into this binary: enable the `embedded` feature of fastkafka-core (on by default; e.g. `fastkafka = { package = \"fastkafka-core\", features = [\"embedded\"] }`), or run against a Kafka broker with `--kafka-broker HOST:PORT`".to_string(),
            ))
        }

        pub(crate) fn bootstrap_servers(&self) -> &str {
            match *self {}
        }

        pub(crate) fn create_topic(&self, _topic: &str, _partitions: i32) -> Result<()> {
            match *self {}
        }
    }

    // As the real one, which stops its cluster when dropped.
    impl Drop for EmbeddedBroker {
        fn drop(&mut self) {
            match *self {}
        }
    }

    /// No embedded broker runs in this process.
    pub(crate) fn is_in_process(_bootstrap: &str) -> bool {
        false
    }

    /// No embedded broker of this process has `bootstrap`.
    pub(crate) fn create_topic_in_process(
        _bootstrap: &str,
        _topic: &str,
        _partitions: i32,
    ) -> Option<Result<()>> {
        None
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn without_the_feature_the_embedded_broker_is_refused_with_what_to_enable() {
            let Err(crate::Error::Config(message)) = super::EmbeddedBroker::start() else {
                panic!("the embedded broker must be refused without its feature");
            };
            assert!(message.contains("`embedded` feature"), "{message}");
        }
    }
}
