//! SASL credentials read from the environment when the app starts.

use crate::error::{Error, Result};

/// Where [`Broker::sasl_from_env`](crate::Broker::sasl_from_env) reads credentials:
/// `{PREFIX}_USERNAME`, `{PREFIX}_PASSWORD` (both required) and `{PREFIX}_MECHANISM`
/// (optional, default `SCRAM-SHA-512`).
pub(crate) fn sasl_from_env(broker: &str, prefix: &str) -> Result<Vec<(String, String)>> {
    let read = |suffix: &str| std::env::var(format!("{prefix}_{suffix}"));
    let required = |suffix: &str| {
        read(suffix).map_err(|e| {
            let why = match e {
                std::env::VarError::NotPresent => "is not set",
                std::env::VarError::NotUnicode(_) => "is not valid UTF-8",
            };
            Error::Config(format!(
                "broker `{broker}`: environment variable {prefix}_{suffix} {why}; \
                 Broker::sasl_from_env(\"{prefix}\") reads {prefix}_USERNAME, {prefix}_PASSWORD \
                 and optionally {prefix}_MECHANISM (default SCRAM-SHA-512)"
            ))
        })
    };
    let username = required("USERNAME")?;
    let password = required("PASSWORD")?;
    let mechanism = read("MECHANISM")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENV_MECHANISM.to_string());
    Ok(vec![
        (
            "sasl.mechanism".into(),
            mechanism.trim().to_ascii_uppercase(),
        ),
        ("sasl.username".into(), username),
        ("sasl.password".into(), password),
    ])
}

/// The mechanism of [`sasl_from_env`] when `{PREFIX}_MECHANISM` is not set.
pub(crate) const DEFAULT_ENV_MECHANISM: &str = "SCRAM-SHA-512";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_the_environment_name_the_missing_variable() {
        // Variables unique to this test: tests run in parallel in one process.
        std::env::set_var("FK_TEST_ENV_A_USERNAME", "orders");
        let err = sasl_from_env("prod", "FK_TEST_ENV_A")
            .unwrap_err()
            .to_string();
        assert!(err.contains("FK_TEST_ENV_A_PASSWORD is not set"), "{err}");
        assert!(err.contains("broker `prod`"), "{err}");
        std::env::set_var("FK_TEST_ENV_A_PASSWORD", "hunter2-env");
        let read = sasl_from_env("prod", "FK_TEST_ENV_A").unwrap();
        assert!(read.contains(&("sasl.mechanism".into(), "SCRAM-SHA-512".into())));
        assert!(read.contains(&("sasl.password".into(), "hunter2-env".into())));
        std::env::set_var("FK_TEST_ENV_A_MECHANISM", "plain");
        let read = sasl_from_env("prod", "FK_TEST_ENV_A").unwrap();
        assert!(read.contains(&("sasl.mechanism".into(), "PLAIN".into())));
    }
}
