//! The document's shape, as it is serialized.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Document {
    pub(super) asyncapi: &'static str,
    pub(super) info: Info,
    pub(super) default_content_type: &'static str,
    pub(super) servers: BTreeMap<String, Server>,
    pub(super) channels: BTreeMap<String, Channel>,
    pub(super) operations: BTreeMap<String, Operation>,
    #[serde(skip_serializing_if = "Components::is_empty")]
    pub(super) components: Components,
}

#[derive(Serialize)]
pub(super) struct Info {
    pub(super) title: String,
    pub(super) version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) contact: Option<Value>,
}

#[derive(Serialize)]
pub(super) struct Server {
    pub(super) host: String,
    pub(super) protocol: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    /// `$ref`s to `components/securitySchemes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) security: Vec<Value>,
}

#[derive(Serialize)]
pub(super) struct Channel {
    pub(super) address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    pub(super) messages: BTreeMap<String, Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) servers: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bindings: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Message {
    pub(super) name: String,
    pub(super) title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    pub(super) content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<Value>,
    pub(super) payload: Value,
    pub(super) bindings: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) examples: Vec<Value>,
}

#[derive(Serialize)]
pub(super) struct Operation {
    pub(super) action: &'static str,
    pub(super) channel: Value,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    pub(super) messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bindings: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Components {
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub(super) schemas: Map<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) security_schemes: BTreeMap<String, Value>,
}

impl Components {
    fn is_empty(&self) -> bool {
        self.schemas.is_empty() && self.security_schemes.is_empty()
    }
}

pub(super) fn reference(pointer: String) -> Value {
    json!({ "$ref": pointer })
}
