//! The app: its description, its brokers, its client settings and its lifespan hooks.
//!
//! The builder lives in `builder`; the brokers, and what `--kafka-broker NAME` resolves
//! to, in `broker`.

mod broker;
mod builder;

use std::time::Duration;

pub use self::broker::Broker;
pub use self::builder::FastKafkaBuilder;
use crate::background::BackgroundTaskSpec;
use crate::consumer::{ConsumerSpec, RebalanceHooks};
use crate::error::{Error, QuotedNames, Result};
use crate::event::DeliveryHook;
use crate::partition::{KeylessStrategy, PartitionerFn};
use crate::producer::ProducerSpec;
use crate::state::{StateBuilder, StateNeed, States};

pub(crate) use crate::state::Hook;

/// A fastkafka app: what it is called, which brokers it knows, and how it starts and stops.
///
/// The producer, consumer and background functions are not listed here: annotating them
/// with `#[produces]`, `#[consumes]` or `#[run_in_background]` registers them.
///
/// ```
/// use fastkafka::{Broker, FastKafka};
///
/// let app = FastKafka::builder()
///     .title("Demo Kafka producer app")
///     .version("0.1.0")
///     .broker("demo_broker", Broker::new("localhost", 9092).description("local demo kafka broker"))
///     .build();
/// assert_eq!(app.title(), "Demo Kafka producer app");
/// ```
pub struct FastKafka {
    pub(crate) info: AppInfo,
    pub(crate) brokers: Vec<(String, Broker)>,
    pub(crate) default_broker: Option<String>,
    pub(crate) producer_config: Vec<(String, String)>,
    pub(crate) consumer_config: Vec<(String, String)>,
    pub(crate) startup: Option<Hook>,
    pub(crate) shutdown: Option<Hook>,
    /// `FastKafkaBuilder::on_partitions_assigned` / `on_partitions_revoked`.
    pub(crate) rebalance: RebalanceHooks,
    pub(crate) shutdown_grace: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) topics: Vec<(String, i32)>,
    pub(crate) replication_factor: Option<i32>,
    pub(crate) partitioner: Option<PartitionerFn>,
    pub(crate) keyless: KeylessStrategy,
    pub(crate) on_delivery: Option<DeliveryHook>,
    pub(crate) group_id: Option<String>,
    /// `FastKafkaBuilder::only`: the functions of this app, by name; `None`: every
    /// annotated function of the binary.
    pub(crate) only: Option<Vec<String>>,
    /// `FastKafkaBuilder::include_module`: the modules whose functions are this app's.
    pub(crate) modules: Vec<String>,
    /// `FastKafkaBuilder::state`.
    pub(crate) states: States,
    /// `FastKafkaBuilder::state_with`, in order.
    pub(crate) state_builders: Vec<StateBuilder>,
}

/// The app's description, shown in its AsyncAPI docs.
#[derive(Debug, Clone, Default)]
pub struct AppInfo {
    /// Title.
    pub title: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Contact: name, url, email.
    pub contact: Option<Contact>,
}

/// Who to contact about the app.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    /// Name of the person or team.
    pub name: String,
    /// A URL.
    pub url: Option<String>,
    /// An email address.
    pub email: Option<String>,
}

impl FastKafka {
    /// Starts describing an app.
    pub fn builder() -> FastKafkaBuilder {
        FastKafkaBuilder {
            app: FastKafka {
                info: AppInfo {
                    title: "FastKafka app".into(),
                    version: "0.1.0".into(),
                    description: String::new(),
                    contact: None,
                },
                brokers: Vec::new(),
                default_broker: None,
                producer_config: Vec::new(),
                consumer_config: Vec::new(),
                startup: None,
                shutdown: None,
                rebalance: RebalanceHooks::default(),
                shutdown_grace: Duration::from_secs(10),
                flush_timeout: Duration::from_secs(30),
                startup_timeout: None,
                topics: Vec::new(),
                replication_factor: None,
                partitioner: None,
                keyless: KeylessStrategy::default(),
                on_delivery: None,
                group_id: None,
                only: None,
                modules: Vec::new(),
                states: States::default(),
                state_builders: Vec::new(),
            },
        }
    }

    /// The app's title.
    pub fn title(&self) -> &str {
        &self.info.title
    }

    /// The app's description (title, version, description, contact).
    pub fn info(&self) -> &AppInfo {
        &self.info
    }

    /// The named brokers, in the order they were added.
    pub fn brokers(&self) -> impl Iterator<Item = (&str, &Broker)> {
        self.brokers.iter().map(|(n, b)| (n.as_str(), b))
    }

    /// The topics the app declares with [`FastKafkaBuilder::topic`], with their
    /// partition counts.
    pub fn declared_topics(&self) -> &[(String, i32)] {
        &self.topics
    }

    /// The replication factor of the topics the app creates, set with
    /// [`FastKafkaBuilder::replication_factor`]; `None`: the broker's default.
    pub fn replication_factor(&self) -> Option<i32> {
        self.replication_factor
    }

    /// What the app creates at start when missing: the declared topics, and the
    /// dead-letter topic of every `#[consumes(dead_letter = "...")]` that follows
    /// `--kafka-broker` (with one partition, unless declared otherwise), so that the
    /// first undecodable message does not wait on a broker that does not create topics
    /// on first use.
    pub fn topics_to_create(&self) -> Vec<(String, i32)> {
        let mut topics = self.topics.clone();
        for spec in self.consumers() {
            if let (Some(dlq), None) = (spec.dead_letter, spec.broker) {
                if !topics.iter().any(|(t, _)| t == dlq) {
                    topics.push((dlq.to_string(), 1));
                }
            }
        }
        topics
    }

    /// Whether the function named `name`, declared in module `module`, is one of this
    /// app's.
    fn includes(&self, name: &str, module: &str) -> bool {
        if self.only.is_none() && self.modules.is_empty() {
            return true;
        }
        let listed = self.only.iter().flatten().any(|n| n == name);
        listed || self.modules.iter().any(|m| in_module(module, m))
    }

    /// The app's `#[produces]` functions.
    pub(crate) fn producers(&self) -> impl Iterator<Item = &'static ProducerSpec> + '_ {
        crate::producer::registered().filter(|s| self.includes(s.function, s.module))
    }

    /// The app's `#[consumes]` functions.
    pub(crate) fn consumers(&self) -> impl Iterator<Item = &'static ConsumerSpec> + '_ {
        crate::consumer::registered().filter(|s| self.includes(s.function, s.module))
    }

    /// The app's `#[run_in_background]` functions.
    pub(crate) fn background_tasks(
        &self,
    ) -> impl Iterator<Item = &'static BackgroundTaskSpec> + '_ {
        crate::background::registered().filter(|s| self.includes(s.name, s.module))
    }

    /// `Err` naming the first function or hook that takes a [`State`](crate::State)
    /// the app neither has nor builds at start.
    pub(crate) fn check_states(&self) -> Result<()> {
        let provided = |need: &StateNeed| {
            self.states.has((need.id)())
                || self
                    .state_builders
                    .iter()
                    .any(|b| (b.provides.id)() == (need.id)())
        };
        let mut needs: Vec<(String, &StateNeed)> = Vec::new();
        for spec in self.consumers() {
            needs.extend(
                spec.states
                    .iter()
                    .map(|n| (format!("consumer `{}`", spec.function), n)),
            );
        }
        for task in self.background_tasks() {
            needs.extend(
                task.states
                    .iter()
                    .map(|n| (format!("background task `{}`", task.name), n)),
            );
        }
        for (which, hook) in [
            ("the startup hook", &self.startup),
            ("the shutdown hook", &self.shutdown),
        ] {
            if let Some(hook) = hook {
                needs.extend(hook.needs.iter().map(|n| (which.to_string(), n)));
            }
        }
        for (which, hook) in [
            (crate::consumer::ASSIGNED_HOOK, &self.rebalance.assigned),
            (crate::consumer::REVOKED_HOOK, &self.rebalance.revoked),
        ] {
            if let Some(hook) = hook {
                needs.extend(hook.needs.iter().map(|n| (which.to_string(), n)));
            }
        }
        match needs.into_iter().find(|(_, need)| !provided(need)) {
            None => Ok(()),
            Some((function, need)) => Err(Error::MissingState {
                function,
                type_name: need.name,
            }),
        }
    }

    /// `Err` naming each function [`FastKafkaBuilder::only`] lists that the binary
    /// does not have.
    pub(crate) fn check_functions(&self) -> Result<()> {
        let modules: Vec<&str> = crate::producer::registered()
            .map(|s| s.module)
            .chain(crate::consumer::registered().map(|s| s.module))
            .chain(crate::background::registered().map(|s| s.module))
            .collect();
        for module in &self.modules {
            if !modules.iter().any(|m| in_module(m, module)) {
                let mut known = modules.clone();
                known.sort_unstable();
                known.dedup();
                return Err(Error::Config(format!(
                    "FastKafkaBuilder::include_module names `{module}`, where no #[produces], #[consumes] or #[run_in_background] function of this binary is declared; pass `module_path!()` from that module (the modules with functions are {})",
                    QuotedNames(&known)
                )));
            }
        }
        let Some(only) = &self.only else {
            return Ok(());
        };
        let known: Vec<&str> = crate::producer::registered()
            .map(|s| s.function)
            .chain(crate::consumer::registered().map(|s| s.function))
            .chain(crate::background::registered().map(|s| s.name))
            .collect();
        let unknown: Vec<&str> = only
            .iter()
            .map(String::as_str)
            .filter(|n| !known.contains(n))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "FastKafkaBuilder::only names {}, which no #[produces], #[consumes] or #[run_in_background] function of this binary is called; its functions are {}",
            QuotedNames(&unknown),
            QuotedNames(&known)
        )))
    }

    /// The consumer group of every `#[consumes]` function that does not name its own:
    /// the one set with [`FastKafkaBuilder::group_id`], else derived from the title
    /// (`"Demo app"` gives `demo-app`). One group per app means that N workers share
    /// the partitions instead of each processing every message.
    pub fn group_id(&self) -> String {
        self.group_id.clone().unwrap_or_else(|| {
            let slug: String = self
                .info
                .title
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let slug: Vec<&str> = slug.split('-').filter(|s| !s.is_empty()).collect();
            if slug.is_empty() {
                "fastkafka-app".to_string()
            } else {
                slug.join("-")
            }
        })
    }

    /// The broker used when `--kafka-broker` is not given: the one set with
    /// [`FastKafkaBuilder::default_broker`], else `localhost`.
    pub fn default_broker(&self) -> &str {
        self.default_broker.as_deref().unwrap_or("localhost")
    }
}

/// Whether `module` is `path` or one of its submodules.
fn in_module(module: &str, path: &str) -> bool {
    module
        .strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_group_comes_from_the_title() {
        let app = FastKafka::builder()
            .title("Demo Kafka  producer app!")
            .build();
        assert_eq!(app.group_id(), "demo-kafka-producer-app");
        assert_eq!(
            FastKafka::builder().title("***").build().group_id(),
            "fastkafka-app"
        );
        assert_eq!(FastKafka::builder().group_id("g1").build().group_id(), "g1");
    }
}
