//! The client configuration of a resolved broker.

use rdkafka::ClientConfig;

use super::broker::ResolvedBroker;

/// A client configuration for `broker`: its address and properties.
pub(crate) fn config_for(broker: &ResolvedBroker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &broker.bootstrap);
    for (k, v) in &broker.properties {
        config.set(k, v);
    }
    config
}
