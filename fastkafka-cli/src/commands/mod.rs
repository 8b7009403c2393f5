//! One module per subcommand of `fastkafka`: `run` (the supervisor of an app's
//! workers), `broker` (the embedded broker on its own), `partition` (where keys go),
//! and `docs` (the AsyncAPI document and its page, generated or served).

pub(crate) mod broker;
pub(crate) mod docs;
pub(crate) mod partition;
pub(crate) mod run;
