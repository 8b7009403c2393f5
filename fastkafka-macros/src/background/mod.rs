//! `#[run_in_background]`: the arguments (args.rs) and the generated task (expand.rs).

mod args;
mod expand;

pub(crate) use args::parse;
pub(crate) use expand::background_task as expand;

/// What the attribute goes on, for the error when it is on something else.
pub(crate) const USAGE: &str =
    "#[run_in_background] goes on an async fn with no arguments: `async fn task() -> fastkafka::Result<()>`";
