//! The contract between `fastkafka` and an app binary: `target` finds the binary a
//! command names (a path, or a bin/example of this workspace, built first), and
//! `protocol` asks it what it declares (`APP brokers`, `APP topics`, `APP asyncapi`)
//! and has it publish, through the typed answers of `fastkafka::protocol`.

pub(crate) mod protocol;
pub(crate) mod target;
