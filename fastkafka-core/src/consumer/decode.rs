//! Decoding payloads by message type, picked at compile time: `String` is UTF-8 text,
//! `Vec<u8>` raw bytes, anything else JSON.

#[cfg(doc)]
use super::spec::incoming_schema_of;
use super::spec::Decoded;

/// Decoding by type, picked at compile time like encoding: `String` is UTF-8 text,
/// `Vec<u8>` raw bytes, anything else JSON.
#[doc(hidden)]
pub struct DecodeProbe<T>(pub std::marker::PhantomData<T>);

impl<T> DecodeProbe<T> {
    /// A probe for `T`.
    pub const fn new() -> Self {
        DecodeProbe(std::marker::PhantomData)
    }
}

impl<T> Default for DecodeProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Raw payloads.
#[doc(hidden)]
pub trait DecodeRaw {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String>;
}

impl DecodeRaw for DecodeProbe<Vec<u8>> {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        Ok(Box::new(payload.unwrap_or_default().to_vec()))
    }
}

impl DecodeRaw for DecodeProbe<String> {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        String::from_utf8(payload.unwrap_or_default().to_vec())
            .map(|s| Box::new(s) as Decoded)
            .map_err(|e| format!("payload is not UTF-8 text: {e}"))
    }
}

/// JSON payloads.
#[doc(hidden)]
pub trait DecodeJson {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String>;
}

impl<T: serde::de::DeserializeOwned + Send + 'static> DecodeJson for &DecodeProbe<T> {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        decode_json::<T>(payload)
    }
}

/// Any other type, one auto-reference (`&mut`) after JSON: a type that is neither raw
/// nor `Deserialize`. `#[consumes]` also names such a type in [`incoming_schema_of`],
/// whose error (at the user's parameter, saying which derive is missing) is then the
/// only one: without this impl the method call would fail too, inside the macro's code.
/// It never runs, since that error stops the build.
#[doc(hidden)]
pub trait DecodeUnsupported {
    fn fk_decode(self, payload: Option<&[u8]>) -> std::result::Result<Decoded, String>;
}

impl<T> DecodeUnsupported for &mut DecodeProbe<T> {
    fn fk_decode(self, _payload: Option<&[u8]>) -> std::result::Result<Decoded, String> {
        Err(format!(
            "{} is not a message type: it does not implement Deserialize",
            std::any::type_name::<T>()
        ))
    }
}

/// Decodes a JSON payload, whatever the type (`decoder = "json"`).
#[doc(hidden)]
pub(crate) fn decode_json<T: serde::de::DeserializeOwned + Send + 'static>(
    payload: Option<&[u8]>,
) -> std::result::Result<Decoded, String> {
    let Some(bytes) = payload else {
        return Err("the message has no payload (a tombstone)".into());
    };
    serde_json::from_slice::<T>(bytes)
        .map(|v| Box::new(v) as Decoded)
        .map_err(|e| format!("invalid JSON for {}: {e}", std::any::type_name::<T>()))
}

/// Takes the decoded messages back out for the user's function. The runtime only ever
/// passes what `decode` produced for this very function, so the downcast holds.
#[doc(hidden)]
pub fn take<T: 'static>(decoded: Vec<Decoded>) -> Vec<T> {
    decoded
        .into_iter()
        .filter_map(|d| d.downcast::<T>().ok().map(|b| *b))
        .collect()
}

/// Takes one decoded message back out (see [`take`]).
#[doc(hidden)]
pub fn take_one<T: 'static>(decoded: Decoded) -> Option<T> {
    decoded.downcast::<T>().ok().map(|b| *b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Hello {
        msg: String,
    }

    #[test]
    fn payloads_decode_by_type() {
        let json = (&DecodeProbe::<Hello>::new())
            .fk_decode(Some(br#"{"msg":"hi"}"#))
            .unwrap();
        assert_eq!(take::<Hello>(vec![json]), vec![Hello { msg: "hi".into() }]);
        let text = DecodeProbe::<String>::new().fk_decode(Some(b"hi")).unwrap();
        assert_eq!(take::<String>(vec![text]), vec!["hi".to_string()]);
        let raw = DecodeProbe::<Vec<u8>>::new()
            .fk_decode(Some(&[0, 255]))
            .unwrap();
        assert_eq!(take::<Vec<u8>>(vec![raw]), vec![vec![0u8, 255]]);
    }

    /// The call `#[consumes]` writes, `DecodeProbe::<T>::new().fk_decode(..)`, with the
    /// probe traits in scope: raw, else JSON, else the never-run stand-in.
    #[test]
    fn the_generated_call_picks_raw_then_json_then_the_stand_in() {
        struct NotAMessage;
        let text = DecodeProbe::<String>::new().fk_decode(Some(b"on")).unwrap();
        assert_eq!(take::<String>(vec![text]), vec!["on".to_string()]);
        let json = DecodeProbe::<Hello>::new()
            .fk_decode(Some(br#"{"msg":"hi"}"#))
            .unwrap();
        assert_eq!(take::<Hello>(vec![json]), vec![Hello { msg: "hi".into() }]);
        let err = DecodeProbe::<NotAMessage>::new()
            .fk_decode(Some(b"{}"))
            .unwrap_err();
        assert!(err.contains("does not implement Deserialize"), "{err}");
        // `decoder = "json"`: without the raw decodings in scope, text is JSON.
        mod json_only {
            use super::super::{take, DecodeJson as _, DecodeProbe};
            pub(super) fn decode(payload: &[u8]) -> Result<String, String> {
                let decoded = DecodeProbe::<String>::new().fk_decode(Some(payload))?;
                Ok(take::<String>(vec![decoded]).remove(0))
            }
        }
        assert_eq!(json_only::decode(br#""on""#).unwrap(), "on");
        assert!(json_only::decode(b"on").is_err());
    }

    #[test]
    fn decode_errors_say_what_is_wrong() {
        let err = (&DecodeProbe::<Hello>::new())
            .fk_decode(Some(b"{not json"))
            .unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
        let err = (&DecodeProbe::<Hello>::new()).fk_decode(None).unwrap_err();
        assert!(err.contains("tombstone"), "{err}");
        let err = DecodeProbe::<String>::new()
            .fk_decode(Some(&[0xff]))
            .unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
    }
}
