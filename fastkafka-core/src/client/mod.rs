//! The connection vocabulary every client-making module shares: what a broker resolved
//! to, the client configuration and context made from it, librdkafka's logs without
//! the flood, and the connection check at start.
//!
//! A leaf layer: `app` resolves `--kafka-broker NAME` into a [`ResolvedBroker`], and
//! the producer, the consumer, the topic creation and the runtime make their clients
//! from it here, without reaching up into `app`.
//!
//! `broker` holds [`ResolvedBroker`], `config` the client configuration made from it,
//! `context` the client context (`ClientCtx`, `logged_client_context!`, `seed_token`),
//! `log` [`ClientLog`], and `check` the connection check.

mod broker;
mod check;
mod config;
mod context;
mod log;

pub(crate) use self::broker::ResolvedBroker;
pub(crate) use self::check::{check, Reach};
pub(crate) use self::config::config_for;
pub(crate) use self::context::{logged_client_context, seed_token, ClientCtx};
pub(crate) use self::log::ClientLog;
