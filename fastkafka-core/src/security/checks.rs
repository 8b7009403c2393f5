//! The checks that keep a client's configuration from failing late: SASL mechanisms,
//! OAUTHBEARER sources, and the producer settings fastkafka does not support.

use crate::error::{Error, Result};

/// The SASL mechanisms this build of librdkafka offers.
const MECHANISMS: &[&str] = &[
    "PLAIN",
    "SCRAM-SHA-256",
    "SCRAM-SHA-512",
    "OAUTHBEARER",
    "GSSAPI",
];

/// Refuses, before any client exists, a broker configuration that cannot work: an
/// unknown SASL mechanism, GSSAPI in a build without Kerberos, OAUTHBEARER without a
/// source of tokens.
pub(crate) fn check_broker(
    broker: &str,
    properties: &[(String, String)],
    has_token_provider: bool,
) -> Result<()> {
    let get = |key: &str| {
        properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let protocol = get("security.protocol")
        .unwrap_or("plaintext")
        .to_ascii_lowercase();
    if !protocol.starts_with("sasl") {
        return Ok(());
    }
    let mechanism = get("sasl.mechanism")
        .unwrap_or("GSSAPI")
        .to_ascii_uppercase();
    if !MECHANISMS.contains(&mechanism.as_str()) {
        return Err(Error::Config(format!(
            "broker `{broker}`: unknown SASL mechanism `{mechanism}`; use one of {}",
            MECHANISMS.join(", ")
        )));
    }
    if mechanism == "GSSAPI" && !cfg!(feature = "gssapi") {
        return Err(Error::Config(format!(
            "broker `{broker}`: SASL mechanism GSSAPI (Kerberos) is not in this build; enable the \
             `gssapi` feature of fastkafka (`fastkafka = {{ version = \"...\", features = [\"gssapi\"] }}`, \
             which needs libsasl2 and its headers: `apt-get install libsasl2-dev`), or choose \
             another mechanism{}",
            if get("sasl.mechanism").is_none() {
                " (GSSAPI is librdkafka's default when security.protocol is SASL and sasl.mechanism is not set)"
            } else {
                ""
            }
        )));
    }
    if mechanism == "OAUTHBEARER"
        && !has_token_provider
        && !get("sasl.oauthbearer.method").is_some_and(|m| m.eq_ignore_ascii_case("oidc"))
        && !get("enable.sasl.oauthbearer.unsecure.jwt").is_some_and(|v| v == "true")
    {
        return Err(Error::Config(format!(
            "broker `{broker}`: SASL mechanism OAUTHBEARER needs a source of tokens: \
             Security::OAuthBearer(OAuth::Oidc(..)) for an OIDC token endpoint, or \
             Security::OAuthBearer(OAuth::callback(..)) for tokens from the app"
        )));
    }
    Ok(())
}

/// What fastkafka does with a producer configuration (the broker's properties, then
/// the app's producer config): refuses `transactional.id` (transactions are not
/// supported), and with `acks` other than `all` turns idempotence off, which needs
/// `acks=all`, with one warning. Returns the properties to add.
pub(crate) fn check_producer(
    broker: &str,
    config: &rdkafka::ClientConfig,
    idempotence_set_by_user: bool,
) -> Result<Vec<(&'static str, &'static str)>> {
    if config.get("transactional.id").is_some() {
        return Err(Error::Config(format!(
            "producer for broker `{broker}`: `transactional.id` is set, but fastkafka does not \
             support Kafka transactions yet (every send would fail); remove `transactional.id` \
             from the producer config and the broker's properties. Producers are idempotent \
             (enable.idempotence=true): a retry never duplicates or reorders a message"
        )));
    }
    let acks = config
        .get("acks")
        .unwrap_or("all")
        .trim()
        .to_ascii_lowercase();
    if matches!(acks.as_str(), "all" | "-1") {
        return Ok(Vec::new());
    }
    let idempotent = config
        .get("enable.idempotence")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if idempotent && idempotence_set_by_user {
        return Err(Error::Config(format!(
            "producer for broker `{broker}`: `acks={acks}` and `enable.idempotence=true` do not go \
             together (idempotence needs acks=all); set `acks` to `all`, or remove \
             `enable.idempotence`"
        )));
    }
    if idempotent {
        tracing::warn!(
            broker,
            acks,
            "acks is not `all`, so this producer is not idempotent: idempotence needs acks=all, \
             so fastkafka turned enable.idempotence off; a retry may now duplicate or reorder \
             messages, and with acks=0 or 1 an acknowledged message can be lost when a broker \
             fails. Set acks=all to keep both"
        );
        return Ok(vec![("enable.idempotence", "false")]);
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{properties, OAuth, Oidc, Security};

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn gssapi_without_the_feature_says_how_to_enable_it() {
        let result = check_broker(
            "corp",
            &props(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "GSSAPI"),
            ]),
            false,
        );
        if cfg!(feature = "gssapi") {
            result.unwrap();
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("broker `corp`"), "{err}");
            assert!(err.contains("`gssapi` feature"), "{err}");
            assert!(err.contains("libsasl2"), "{err}");
        }
        let err = check_broker(
            "corp",
            &props(&[
                ("security.protocol", "sasl_ssl"),
                ("sasl.mechanism", "SCRAM-SHA-1"),
            ]),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown SASL mechanism `SCRAM-SHA-1`"),
            "{err}"
        );
        for mechanism in ["PLAIN", "scram-sha-256", "SCRAM-SHA-512"] {
            check_broker(
                "corp",
                &props(&[
                    ("security.protocol", "sasl_ssl"),
                    ("sasl.mechanism", mechanism),
                ]),
                false,
            )
            .unwrap();
        }
    }

    #[test]
    fn oauthbearer_needs_a_source_of_tokens() {
        let oauth = props(&[
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ]);
        let err = check_broker("cloud", &oauth, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a source of tokens"), "{err}");
        check_broker("cloud", &oauth, true).unwrap();
        let oidc: Vec<(String, String)> = properties(&Security::OAuthBearer(OAuth::Oidc(
            Oidc::new("https://idp/token", "id", "hunter2").scope("kafka"),
        )))
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        check_broker("cloud", &oidc, false).unwrap();
        assert!(oidc.contains(&("sasl.oauthbearer.method".into(), "oidc".into())));
        assert!(oidc.contains(&("sasl.oauthbearer.scope".into(), "kafka".into())));
    }

    #[test]
    fn transactions_are_refused_and_weaker_acks_turn_idempotence_off() {
        let config = |pairs: &[(&str, &str)]| {
            let mut c = rdkafka::ClientConfig::new();
            c.set("enable.idempotence", "true");
            for (k, v) in pairs {
                c.set(*k, *v);
            }
            c
        };
        let err = check_producer("prod", &config(&[("transactional.id", "tx-1")]), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`transactional.id`"), "{err}");
        assert!(err.contains("does not support Kafka transactions"), "{err}");
        assert_eq!(
            check_producer("prod", &config(&[("acks", "1")]), false).unwrap(),
            vec![("enable.idempotence", "false")]
        );
        assert!(check_producer("prod", &config(&[("acks", "all")]), false)
            .unwrap()
            .is_empty());
        assert!(check_producer("prod", &config(&[("acks", "-1")]), false)
            .unwrap()
            .is_empty());
        let err = check_producer("prod", &config(&[("acks", "0")]), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("set `acks` to `all`"), "{err}");
    }
}
