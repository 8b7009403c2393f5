//! The headers a function's records carry, as `header(..)` on `#[produces]` and
//! `#[consumes]` declares them, and as fastkafka writes them on dead letters
//! ([`crate::dead_letter_headers`]): one entry per header, from which the AsyncAPI
//! document builds the message's `headers` schema.

/// One documented header: its name, what it says, the values it takes, and whether
/// every record carries it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct HeaderSpec {
    /// The header's name, as on the record.
    pub name: &'static str,
    /// What it says; empty for none.
    pub description: &'static str,
    /// The values it takes.
    pub values: HeaderValues,
    /// Every record carries it.
    pub required: bool,
}

/// The values a header takes, for its schema.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum HeaderValues {
    /// Any text.
    Text,
    /// One of these strings (`enum = [..]`).
    OneOf(&'static [&'static str]),
    /// The JSON schema of a type (`schema = T`).
    Schema(fn(&mut schemars::SchemaGenerator) -> schemars::Schema),
}

/// The schema of `T` for a header declared `schema = T`. `#[produces]` and
/// `#[consumes]` name it at the user's type, where a missing `JsonSchema` is reported.
#[doc(hidden)]
pub fn header_schema_of<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}
