//! `#[consumes]`: the arguments (args.rs) and the generated consumer (expand.rs).

mod args;
mod expand;

pub(crate) use args::parse;
pub(crate) use expand::consumer as expand;

/// What the attribute goes on, for the error when it is on something else.
pub(crate) const USAGE: &str =
    "#[consumes] goes on an async fn: `async fn on_topic(msg: T, meta: EventMetadata)`";
