//! The exit codes of `fastkafka`, which are also what it reads from the app binaries it
//! runs: 0 success, 1 a failure at run time (worth retrying), 2 a usage error (bad
//! arguments, an unknown broker, a program that is not an app: nothing to retry), 78
//! a worker its broker refused (credentials: nothing to retry either). The codes are
//! defined once, in `fastkafka::protocol::exit`, for the CLI and the apps alike.

pub(crate) use fastkafka::protocol::exit::{FAILURE, REFUSED, SUCCESS, USAGE};

/// A user's mistake on the command line: one clear line, exit code [`USAGE`].
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// [`USAGE`] for a [`UsageError`] anywhere in the chain, [`FAILURE`] for anything else.
pub(crate) fn code_of(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<UsageError>().is_some() {
        USAGE
    } else {
        FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_even_with_context_and_others_exit_1() {
        let usage = anyhow::Error::new(UsageError("bad".into())).context("while starting");
        assert_eq!(code_of(&usage), USAGE);
        assert_eq!(code_of(&anyhow::anyhow!("broker down")), FAILURE);
    }
}
