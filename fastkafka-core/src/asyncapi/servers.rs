//! Servers, one per named broker, and their security schemes.

use serde_json::{json, Map, Value};

use super::ids::Ids;
use super::model::{reference, Server};
use crate::app::{Broker, FastKafka};

/// `(broker name, server id, server)` for each address of each broker the app names,
/// else `localhost`.
///
/// A server's `host` is one host name and port (AsyncAPI 3: "The server host name. It
/// MAY include the port"), so a broker with several bootstrap addresses is one server
/// per address: the first has the broker's name as its id, the next `NAME_2`, ...;
/// each says which of the broker's addresses it is, and a channel pinned to the
/// broker lists them all.
pub(super) fn servers(app: &FastKafka) -> Vec<(String, String, Server)> {
    let mut ids = Ids::default();
    let schemes = security_schemes(app);
    let mut servers: Vec<(String, String, Server)> = app
        .brokers()
        .flat_map(|(name, broker)| {
            let secure = broker
                .properties
                .iter()
                .any(|(k, v)| k == "security.protocol" && v.to_ascii_lowercase().ends_with("ssl"));
            let security: Vec<_> = schemes
                .iter()
                .filter(|(broker, _, _)| broker == name)
                .map(|(_, id, _)| reference(format!("#/components/securitySchemes/{id}")))
                .collect();
            let addresses = broker.addresses();
            let count = addresses.len();
            addresses
                .into_iter()
                .enumerate()
                .map(|(i, host)| {
                    let description = if count > 1 {
                        let which =
                            format!("Bootstrap address {} of {count} of broker `{name}`.", i + 1);
                        match broker.description.as_str() {
                            "" => which,
                            d => format!("{d} ({which})"),
                        }
                    } else {
                        broker.description.clone()
                    };
                    (
                        name.to_string(),
                        ids.fresh(name),
                        Server {
                            host,
                            protocol: if secure { "kafka-secure" } else { "kafka" },
                            description,
                            security: security.clone(),
                        },
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if servers.is_empty() {
        servers.push((
            "localhost".into(),
            "localhost".into(),
            Server {
                host: "localhost:9092".into(),
                protocol: "kafka",
                description: "Kafka on this machine (the default broker)".into(),
                security: Vec::new(),
            },
        ));
    }
    servers
}

/// The AsyncAPI 3 security scheme of a broker (its id in `components/securitySchemes`
/// and the scheme), from its librdkafka properties: the SASL mechanism, or `X509` for
/// TLS with a client certificate; `None` for no authentication (TLS alone included).
/// Names and endpoints only: a credential never enters the document.
pub(super) fn security_scheme(broker: &Broker) -> Option<(String, Value)> {
    let get = |key: &str| {
        broker
            .properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let protocol = get("security.protocol")?.to_ascii_lowercase();
    let over = if protocol.ends_with("ssl") {
        "over TLS"
    } else {
        "without TLS"
    };
    if protocol == "ssl" {
        let client_certificate =
            get("ssl.certificate.location").is_some() || get("ssl.certificate.pem").is_some();
        return client_certificate.then(|| {
            (
                "X509".to_string(),
                json!({"type": "X509", "description": "mutual TLS: the client presents a certificate the broker trusts"}),
            )
        });
    }
    if !protocol.starts_with("sasl") {
        return None;
    }
    let env_mechanism = broker
        .env_prefix()
        .and_then(|prefix| std::env::var(format!("{prefix}_MECHANISM")).ok());
    let mechanism = match (get("sasl.mechanism"), &env_mechanism, broker.env_prefix()) {
        (Some(m), _, _) => m.to_ascii_uppercase(),
        (None, Some(m), _) => m.trim().to_ascii_uppercase(),
        (None, None, Some(_)) => crate::security::DEFAULT_ENV_MECHANISM.to_string(),
        (None, None, None) => "GSSAPI".to_string(),
    };
    let (kind, what) = match mechanism.as_str() {
        "PLAIN" => ("plain", "SASL/PLAIN"),
        "SCRAM-SHA-256" => ("scramSha256", "SASL/SCRAM-SHA-256"),
        "SCRAM-SHA-512" => ("scramSha512", "SASL/SCRAM-SHA-512"),
        "GSSAPI" => ("gssapi", "SASL/GSSAPI (Kerberos)"),
        "OAUTHBEARER" => ("oauth2", "SASL/OAUTHBEARER"),
        _ => return None,
    };
    let mut scheme = json!({"type": kind, "description": format!("{what} {over}")});
    if kind == "oauth2" {
        let flows = match get("sasl.oauthbearer.token.endpoint.url") {
            Some(url) => {
                let scopes: Map<String, Value> = get("sasl.oauthbearer.scope")
                    .into_iter()
                    .flat_map(|s| s.split([' ', ',']))
                    .filter(|s| !s.is_empty())
                    .map(|s| (s.to_string(), Value::String(String::new())))
                    .collect();
                scheme["scopes"] = scopes.keys().cloned().collect::<Vec<_>>().into();
                json!({"clientCredentials": {"tokenUrl": url, "availableScopes": scopes}})
            }
            // Tokens from the app's own function: the flow is the app's business.
            None => json!({}),
        };
        scheme["flows"] = flows;
    }
    Some((kind.to_string(), scheme))
}

/// Each named broker's security scheme: `(broker, id, scheme)`. Brokers whose schemes
/// are equal share one id (`scramSha512`); one that differs from an earlier one of the
/// same kind (another OAuth token endpoint) gets `{kind}_{broker}`.
pub(super) fn security_schemes(app: &FastKafka) -> Vec<(String, String, Value)> {
    let mut schemes: Vec<(String, String, Value)> = Vec::new();
    for (name, broker) in app.brokers() {
        let Some((kind, scheme)) = security_scheme(broker) else {
            continue;
        };
        let taken = schemes.iter().find(|(_, id, _)| *id == kind);
        let id = match taken {
            Some((_, _, other)) if *other != scheme => format!("{kind}_{name}"),
            _ => kind,
        };
        schemes.push((name.to_string(), id, scheme));
    }
    schemes
}
