//! `header(..)`, which `#[produces]` and `#[consumes]` both accept: how it is written
//! (args.rs) and the header list it becomes in the function's spec (expand.rs).

mod args;
mod expand;

pub(crate) use args::{check_unique, parse, unknown_argument, HeaderArg};
pub(crate) use expand::header_specs as expand;
