//! Turning a message into the bytes of a Kafka record.
//!
//! JSON (serde_json) by default; `String` and `Vec<u8>` payloads pass through untouched.
//! `#[produces]` picks the encoding from the message's type at compile time.

use schemars::JsonSchema;
use serde::Serialize;

use crate::error::{Error, Result};

/// A type a `#[produces]` function can send: anything with `Serialize` (to encode it)
/// and `JsonSchema` (to document it). The counterpart of [`Incoming`](crate::Incoming).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to Kafka by a #[produces] function",
    label = "this message type needs `Serialize` and `JsonSchema`",
    note = "add `#[derive(Serialize, JsonSchema)]` to `{Self}`, with the derives of `fastkafka::prelude`: a `JsonSchema` derived with a schemars other than 1.x (e.g. 0.8) does not count"
)]
pub trait Outgoing: Serialize + JsonSchema {}

impl<T: Serialize + JsonSchema> Outgoing for T {}

/// The former name of [`Outgoing`], which clashed with `rdkafka::Message` in any module
/// that uses both.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `Outgoing`: `Message` clashed with `rdkafka::Message`"
)]
pub trait Message: Outgoing {}

#[allow(deprecated)]
impl<T: Outgoing> Message for T {}

/// The JSON schema of a message type. `#[produces]` names it at the user's return
/// type, which is also where a missing derive is reported.
#[doc(hidden)]
pub fn schema_of<T: Outgoing>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// Wraps a payload so that method resolution picks its encoding: the raw impls
/// (`String`, `Vec<u8>`) match by value, the JSON impl one auto-reference later.
#[doc(hidden)]
pub struct EncodeProbe<T>(pub T);

/// Raw payloads: the bytes are sent as they are.
#[doc(hidden)]
pub trait EncodeRaw {
    fn fk_encode(self, topic: &str) -> Result<Vec<u8>>;
}

impl EncodeRaw for EncodeProbe<Vec<u8>> {
    fn fk_encode(self, _topic: &str) -> Result<Vec<u8>> {
        Ok(self.0)
    }
}

impl EncodeRaw for EncodeProbe<String> {
    fn fk_encode(self, _topic: &str) -> Result<Vec<u8>> {
        Ok(self.0.into_bytes())
    }
}

/// Every other payload: JSON.
#[doc(hidden)]
pub trait EncodeJson {
    fn fk_encode(self, topic: &str) -> Result<Vec<u8>>;
}

impl<T: Serialize> EncodeJson for &EncodeProbe<T> {
    fn fk_encode(self, topic: &str) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.0).map_err(|source| {
            let error = Error::Encode {
                topic: topic.to_string(),
                source,
            };
            // Not sent: the input being handled, if any, fails with it.
            crate::tracking::Outputs::fail_current(&error);
            error
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct HelloWorld {
        msg: String,
    }

    #[test]
    fn structs_are_json_and_text_and_bytes_pass_through() {
        let json = EncodeProbe(HelloWorld { msg: "hi".into() })
            .fk_encode("t")
            .unwrap();
        assert_eq!(json, br#"{"msg":"hi"}"#);
        assert_eq!(EncodeProbe("hi".to_string()).fk_encode("t").unwrap(), b"hi");
        assert_eq!(
            EncodeProbe(vec![0u8, 255]).fk_encode("t").unwrap(),
            [0, 255]
        );
        // A &str is not a raw payload: it is JSON, a quoted string.
        assert_eq!(EncodeProbe("hi").fk_encode("t").unwrap(), br#""hi""#);
    }

    #[test]
    fn encoding_errors_name_the_topic() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        let err = EncodeProbe(map)
            .fk_encode("orders")
            .unwrap_err()
            .to_string();
        assert!(err.contains("topic `orders`"), "{err}");
    }
}
