//! `#[produces]`: the arguments (args.rs) and the generated producer (expand.rs).

mod args;
mod expand;

pub(crate) use args::parse;
pub(crate) use expand::{producer as expand, stand_in};

/// What the attribute goes on, for the error when it is on something else.
pub(crate) const USAGE: &str =
    "#[produces] goes on an async fn: `async fn to_topic(...) -> KafkaEvent<T>`";
