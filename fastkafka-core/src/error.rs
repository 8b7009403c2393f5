//! The one error type of fastkafka.

use std::fmt;

use crate::partition::PartitionCount;

/// Everything that can go wrong in a fastkafka app, with messages that say what to do.
///
/// Match on the variants to react to a specific failure:
///
/// ```
/// use fastkafka::Error;
///
/// fn describe(err: &Error) -> &'static str {
///     match err {
///         Error::NotRunning { .. } => "start the app first",
///         Error::Delivery { .. } => "the broker did not take the message",
///         _ => "something else",
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--kafka-broker NAME`, or a function's `broker = "NAME"`, named a broker the app
    /// does not define.
    #[error("{}", unknown_broker(name, known, needed_by.as_deref()))]
    UnknownBroker {
        /// The name that was asked for.
        name: String,
        /// The names the app defines, ready to print (empty when it names none).
        known: String,
        /// The function pinned to it with `broker = "NAME"` (`producer `to_orders``);
        /// `None` for `--kafka-broker`.
        needed_by: Option<String>,
    },
    /// The app's configuration is inconsistent (a bad property, a duplicate topic, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// librdkafka refused to create one of the app's Kafka clients, almost always
    /// because of a property it does not accept: a usage error, like
    /// [`Error::Config`].
    #[error("cannot create the {what}: {source}; check the broker's properties and the app's producer_config / consumer_config")]
    Client {
        /// The client: `producer for broker `prod``, `admin client for broker `prod``.
        what: String,
        /// What librdkafka said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A task the app runs while it starts (the connection check, the topic check)
    /// panicked or was cancelled. Not a usage error: the next start may well succeed.
    #[error("the {what} did not finish: {detail}")]
    TaskPanicked {
        /// The task: `connection check`, `topic check`.
        what: &'static str,
        /// `it panicked: MESSAGE`, or that it was cancelled.
        detail: String,
    },
    /// The embedded broker (librdkafka's mock cluster) could not start, or could not do
    /// what it was asked (create a topic, listen on a port).
    #[error("{0}")]
    EmbeddedBroker(String),
    /// A topic a test reads ([`testing`](crate::testing)) does not exist.
    #[error("topic `{topic}` does not exist; create it, or declare it with FastKafka::builder().topic(name, partitions) (a Tester creates the topics its app's functions use at start)")]
    TopicMissing {
        /// The topic.
        topic: String,
    },
    /// A producer function was called while no app was running in this process.
    #[error("producer `{function}` was called while the app is not running; call it from a background task, a consumer or a lifespan hook of a running app, or in a test through `Tester::call`")]
    NotRunning {
        /// The producer function's name.
        function: &'static str,
    },
    /// A producer function was called from a task of an app that does not include it
    /// (see [`FastKafkaBuilder::only`](crate::FastKafkaBuilder::only)).
    #[error("producer `{function}` was called from a task of an app that does not include it; add it to the app's functions (FastKafkaBuilder::only)")]
    NotInApp {
        /// The producer function's name.
        function: &'static str,
    },
    /// A function of the app takes a [`State<T>`](crate::State) the app does not have.
    #[error("{function} takes `State<{type_name}>`, but the app has no `{type_name}`; give it one with `FastKafka::builder().state(value)`, or build it at start with `.state_with(|| async {{ ... }})`")]
    MissingState {
        /// The function (or hook) that takes it.
        function: String,
        /// The state's type.
        type_name: &'static str,
    },
    /// The message could not be encoded as JSON.
    #[error("could not encode the message for topic `{topic}` as JSON: {source}")]
    Encode {
        /// The topic the message was meant for.
        topic: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// A pinned partition does not exist in the topic; nothing was sent.
    #[error("partition {partition} does not exist in topic `{topic}`, which has {} (0..={last}); pin a partition in that range or leave it unset", PartitionCount(*partition_count), last = partition_count - 1)]
    PartitionOutOfRange {
        /// The topic.
        topic: String,
        /// The partition that was asked for.
        partition: i32,
        /// How many partitions the topic has.
        partition_count: i32,
    },
    /// A custom partitioner chose a partition the topic does not have; nothing was sent.
    #[error("the custom partitioner of `{function}` chose partition {partition} for topic `{topic}`, which has {}; it must return a value in 0..{partition_count}", PartitionCount(*partition_count))]
    PartitionerOutOfRange {
        /// The producer function.
        function: &'static str,
        /// The topic.
        topic: String,
        /// What the partitioner returned.
        partition: i32,
        /// How many partitions the topic has.
        partition_count: i32,
    },
    /// The app stopped, but some queued messages were never acknowledged by the broker:
    /// they are lost. Each one's failure was logged.
    #[error("{messages} queued message(s) could not be delivered before the app stopped and are lost; see the errors logged above (is the broker reachable? does the topic exist?)")]
    LostAtShutdown {
        /// How many.
        messages: u64,
    },
    /// The topic's partition count could not be learned from the broker.
    #[error("cannot learn how many partitions topic `{topic}` has: {reason}")]
    Metadata {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
        /// What librdkafka said, when the metadata request itself failed (`None` when
        /// the broker answered without the topic's partitions). Boxed, so that every
        /// `Result` of fastkafka stays small.
        #[source]
        source: Option<Box<rdkafka::error::KafkaError>>,
    },
    /// The app could not start against its broker: the broker did not answer within
    /// the start-up timeout, refused the login, or refused to create a declared topic.
    /// Not a usage error: the same command may work once the broker is fixed.
    #[error("the app cannot start: {0}")]
    Startup(String),
    /// The message could not be put on the producer's local queue.
    #[error("could not queue the message for topic `{topic}`: {source}")]
    Enqueue {
        /// The topic.
        topic: String,
        /// What librdkafka said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The broker did not acknowledge the message (after librdkafka's retries).
    #[error(
        "message to topic `{topic}` was not delivered: {source}{}",
        delivery_hint(source)
    )]
    Delivery {
        /// The topic.
        topic: String,
        /// What librdkafka said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The producer went away before it reported on the message.
    #[error(
        "the delivery report for topic `{topic}` was lost because the producer shut down first"
    )]
    DeliveryLost {
        /// The topic.
        topic: String,
    },
    /// The broker refused the app's clients at start: wrong credentials, a certificate
    /// the client does not trust, a SASL mechanism the broker does not offer, a security
    /// protocol that does not match the port. Retrying cannot fix it.
    #[error("cannot connect to Kafka broker `{broker}` ({bootstrap}): {cause}")]
    Connect {
        /// The broker's name.
        broker: String,
        /// Its bootstrap address.
        bootstrap: String,
        /// What was refused, and what to check.
        cause: String,
    },
    /// A Kafka client error outside a specific message.
    #[error("Kafka client error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// An I/O error (signals, sockets).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A lifespan hook or other user code failed.
    #[error("{context}: {source}")]
    User {
        /// Where it happened.
        context: String,
        /// The user's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Whether trying the same thing again cannot succeed: a message too large for
    /// the producer or the broker, a record the broker calls invalid, a topic or
    /// partition that does not exist, a refused authorization, a message that cannot
    /// be encoded, a producer function the app does not include. Consumers give up on such a failure at once (dead-letter or skip)
    /// instead of retrying it; any other failure (a broker down, a timeout, a full
    /// queue) is transient.
    ///
    /// ```
    /// use fastkafka::rdkafka::error::KafkaError;
    /// use fastkafka::rdkafka::types::RDKafkaErrorCode;
    ///
    /// let too_large = fastkafka::Error::Delivery {
    ///     topic: "out".into(),
    ///     source: KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
    /// };
    /// assert!(too_large.is_permanent());
    /// let timed_out = fastkafka::Error::Delivery {
    ///     topic: "out".into(),
    ///     source: KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
    /// };
    /// assert!(!timed_out.is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as Code;
        match self {
            Error::Encode { .. }
            | Error::NotInApp { .. }
            | Error::MissingState { .. }
            | Error::PartitionOutOfRange { .. }
            | Error::PartitionerOutOfRange { .. } => true,
            Error::Enqueue { source, .. } | Error::Delivery { source, .. } => matches!(
                source.rdkafka_error_code(),
                Some(
                    Code::MessageSizeTooLarge
                        | Code::InvalidMessageSize
                        | Code::MessageBatchTooLarge
                        | Code::InvalidRecord
                        | Code::InvalidTopic
                        | Code::UnknownTopic
                        | Code::UnknownPartition
                        | Code::TopicAuthorizationFailed
                        | Code::ClusterAuthorizationFailed
                        | Code::TransactionalIdAuthorizationFailed
                        | Code::PolicyViolation
                        | Code::UnsupportedForMessageFormat
                        | Code::InvalidRequiredAcks
                        | Code::InvalidArgument
                )
            ),
            _ => false,
        }
    }

    /// [`Error::TaskPanicked`] for the task `what`, which ended with `join` instead of
    /// its result.
    pub(crate) fn panicked(what: &'static str, join: tokio::task::JoinError) -> Error {
        let detail = if join.is_panic() {
            format!("it panicked: {}", panic_message(&*join.into_panic()))
        } else {
            "it was cancelled (is the runtime shutting down?)".to_string()
        };
        Error::TaskPanicked { what, detail }
    }

    /// Whether this is the failure of a message a producer function was asked to send:
    /// it could not be encoded, routed or queued, or the broker did not acknowledge it.
    pub(crate) fn is_output_failure(&self) -> bool {
        matches!(
            self,
            Error::Encode { .. }
                | Error::PartitionOutOfRange { .. }
                | Error::PartitionerOutOfRange { .. }
                | Error::Enqueue { .. }
                | Error::Delivery { .. }
                | Error::DeliveryLost { .. }
                | Error::NotInApp { .. }
                | Error::NotRunning { .. }
        )
    }

    /// Whether `error`, or an error it wraps, is an output's failure
    /// ([`Error::is_output_failure`]), however the handler passed it on: a consumer
    /// dead-letters such an input with stage `output`, not `handler`.
    pub(crate) fn is_output_failure_in(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(e) = next {
            if e.downcast_ref::<Error>()
                .is_some_and(Error::is_output_failure)
            {
                return true;
            }
            next = e.source();
        }
        false
    }

    /// Whether `error`, or an error it wraps, is a permanent fastkafka [`Error`]
    /// (see [`Error::is_permanent`]): what a consumer checks on a handler's error.
    pub(crate) fn is_permanent_in(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(e) = next {
            if e.downcast_ref::<Error>().is_some_and(Error::is_permanent) {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// A boxed error from user code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with fastkafka's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns what a user function returns (`()` or `Result<(), E>`) into a uniform result.
///
/// Implemented for `()` and for `Result<(), E>` where `E` converts into a boxed error,
/// which covers `fastkafka::Error`, `std::io::Error`, `anyhow::Error` and `Box<dyn Error>`.
pub trait IntoTaskResult {
    /// The uniform result.
    fn into_task_result(self) -> Result<(), BoxError>;
}

impl IntoTaskResult for () {
    fn into_task_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoTaskResult for Result<(), E> {
    fn into_task_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Renders a panic payload as text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Names quoted for an error message: "`a`, `b`" (nothing for no names).
pub(crate) struct QuotedNames<'a>(pub &'a [&'a str]);

impl fmt::Display for QuotedNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

/// What [`Error::UnknownBroker`] says: which name is unknown, who asked for it, and
/// what would work instead.
fn unknown_broker(name: &str, known: &str, needed_by: Option<&str>) -> String {
    match needed_by {
        None => format!("unknown Kafka broker `{name}`; {}", broker_choices(known)),
        Some(function) if known.is_empty() => format!(
            "{function} is pinned to the unknown Kafka broker `{name}` (`broker = \"{name}\"`); this app names no brokers: define it with FastKafka::builder().broker(\"{name}\", Broker::new(host, port)), or remove `broker = ..` to follow --kafka-broker"
        ),
        Some(function) => format!(
            "{function} is pinned to the unknown Kafka broker `{name}` (`broker = \"{name}\"`); this app knows {known}: name one of them, define `{name}` with FastKafka::builder().broker(..), or remove `broker = ..` to follow --kafka-broker"
        ),
    }
}

/// What `--kafka-broker` accepts, given the names the app defines (`known`, listed).
fn broker_choices(known: &str) -> String {
    const ALWAYS: &str = "`embedded` (a broker inside this process), `localhost` (localhost:9092) or a HOST:PORT bootstrap address";
    if known.is_empty() {
        format!("this app names no brokers: pass {ALWAYS}")
    } else {
        format!("this app knows {known}; pass one of them, {ALWAYS}")
    }
}

/// What to do about the delivery failures a newcomer meets first.
fn delivery_hint(source: &rdkafka::error::KafkaError) -> &'static str {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match source.rdkafka_error_code() {
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic) => {
            " (the topic does not exist and the broker does not create topics on first use: create it, or declare it with FastKafka::builder().topic(name, partitions) so that the app creates it at start)"
        }
        Some(Code::MessageTimedOut) => {
            " (the broker was not reachable, or did not answer, within message.timeout.ms: is it running at the address the app was given?)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    fn delivery(code: RDKafkaErrorCode) -> String {
        Error::Delivery {
            topic: "orders".into(),
            source: KafkaError::MessageProduction(code),
        }
        .to_string()
    }

    #[test]
    fn an_unknown_broker_name_says_what_to_pass_instead() {
        let unnamed = Error::UnknownBroker {
            name: "prod".into(),
            known: QuotedNames(&[]).to_string(),
            needed_by: None,
        }
        .to_string();
        assert_eq!(
            unnamed,
            "unknown Kafka broker `prod`; this app names no brokers: pass `embedded` (a broker inside this process), `localhost` (localhost:9092) or a HOST:PORT bootstrap address"
        );
        let named = Error::UnknownBroker {
            name: "prod".into(),
            known: QuotedNames(&["dev", "staging"]).to_string(),
            needed_by: None,
        }
        .to_string();
        assert_eq!(
            named,
            "unknown Kafka broker `prod`; this app knows `dev`, `staging`; pass one of them, `embedded` (a broker inside this process), `localhost` (localhost:9092) or a HOST:PORT bootstrap address"
        );
        let pinned = Error::UnknownBroker {
            name: "prod".into(),
            known: QuotedNames(&["dev"]).to_string(),
            needed_by: Some("producer `to_orders`".into()),
        }
        .to_string();
        assert_eq!(
            pinned,
            "producer `to_orders` is pinned to the unknown Kafka broker `prod` (`broker = \"prod\"`); this app knows `dev`: name one of them, define `prod` with FastKafka::builder().broker(..), or remove `broker = ..` to follow --kafka-broker"
        );
    }

    #[test]
    fn partition_counts_read_right_for_one_partition() {
        let pinned = Error::PartitionOutOfRange {
            topic: "orders".into(),
            partition: 1,
            partition_count: 1,
        }
        .to_string();
        assert!(
            pinned.contains("which has 1 partition (0..=0);"),
            "{pinned}"
        );
        let chosen = Error::PartitionerOutOfRange {
            function: "to_orders",
            topic: "orders".into(),
            partition: 3,
            partition_count: 1,
        }
        .to_string();
        assert!(chosen.contains("which has 1 partition;"), "{chosen}");
        let three = Error::PartitionOutOfRange {
            topic: "orders".into(),
            partition: 3,
            partition_count: 3,
        }
        .to_string();
        assert!(three.contains("which has 3 partitions (0..=2);"), "{three}");
    }

    #[test]
    fn delivery_errors_newcomers_meet_say_what_to_do() {
        let missing = delivery(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(missing.starts_with("message to topic `orders` was not delivered"));
        assert!(
            missing.contains("FastKafka::builder().topic(name, partitions)"),
            "{missing}"
        );
        let timed_out = delivery(RDKafkaErrorCode::MessageTimedOut);
        assert!(timed_out.contains("is it running"), "{timed_out}");
        let other = delivery(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(
            other.ends_with("(Broker: Message size too large)"),
            "no hint where none helps: {other}"
        );
    }
}
