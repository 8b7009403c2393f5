//! Schema handling: definitions renamed to valid keys, payload descriptions, and
//! examples made from schemas.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::ids::Ids;

/// The schema a payload points at, following one `$ref` into the definitions.
fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .and_then(|name| definitions.get(name))
        .unwrap_or(schema)
}

pub(super) fn payload_description(payload: &Value, definitions: &Map<String, Value>) -> String {
    resolve(payload, definitions)
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The message's examples: the type's own `#[schemars(example = ..)]`s, else one made
/// from its fields' examples (and a plausible value for fields without one).
pub(super) fn message_examples(payload: &Value, definitions: &Map<String, Value>) -> Vec<Value> {
    let schema = resolve(payload, definitions);
    if let Some(examples) = schema.get("examples").and_then(Value::as_array) {
        return examples
            .iter()
            .enumerate()
            .map(|(i, e)| json!({ "name": format!("example{}", i + 1), "payload": e }))
            .collect();
    }
    if has_field_examples(schema, definitions, 0) {
        if let Some(sample) = sample(payload, definitions) {
            return vec![json!({ "name": "example1", "payload": sample })];
        }
    }
    Vec::new()
}

const MAX_DEPTH: usize = 8;

fn has_field_examples(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let schema = resolve(schema, definitions);
    if depth > 0 && schema.get("examples").is_some() {
        return true;
    }
    let nested = |key: &str| -> bool {
        match schema.get(key) {
            Some(Value::Object(props)) if key == "properties" => props
                .values()
                .any(|p| has_field_examples(p, definitions, depth + 1)),
            Some(Value::Array(items)) => items
                .iter()
                .any(|p| has_field_examples(p, definitions, depth + 1)),
            Some(item @ Value::Object(_)) => has_field_examples(item, definitions, depth + 1),
            _ => false,
        }
    };
    ["properties", "items", "allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| nested(k))
}

/// A value that fits `schema`: its first example, else one built from its type
/// (`"string"`, `0`, `false`, objects field by field), following `$ref`s into
/// `definitions` (the document's `components/schemas`). `None` for a schema that
/// says nothing about its values.
///
/// ```
/// use serde_json::json;
/// let schema = json!({"type": "object", "properties": {
///     "msg": {"type": "string", "examples": ["Hello"]}, "n": {"type": "integer"}}});
/// let sample = fastkafka::asyncapi::sample(&schema, &Default::default());
/// assert_eq!(sample, Some(json!({"msg": "Hello", "n": 0})));
/// ```
pub fn sample(schema: &Value, definitions: &Map<String, Value>) -> Option<Value> {
    sample_at(schema, definitions, 0)
}

fn sample_at(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let schema = resolve(schema, definitions);
    if let Some(example) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some(example.clone());
    }
    if let Some(value) = schema.get("const").or_else(|| schema.get("default")) {
        return Some(value.clone());
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some(first.clone());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|s| s.first())
        {
            return sample_at(first, definitions, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // `["string", "null"]`: an Option; show the value.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => return None,
    };
    Some(match ty {
        "object" => {
            let mut object = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    if let Some(v) = sample_at(prop, definitions, depth + 1) {
                        object.insert(name.clone(), v);
                    }
                }
            }
            Value::Object(object)
        }
        "array" => Value::Array(
            schema
                .get("items")
                .and_then(|items| sample_at(items, definitions, depth + 1))
                .into_iter()
                .collect(),
        ),
        "string" => "string".into(),
        "integer" => 0.into(),
        "number" => json!(0.0),
        "boolean" => false.into(),
        _ => Value::Null,
    })
}

/// Renames schema definitions whose names the AsyncAPI key pattern rejects, and their
/// `$ref`s with them (in the payloads and in the `others`, header schemas).
pub(super) fn sanitize_definitions<'a>(
    definitions: Map<String, Value>,
    payloads: &mut [(String, Value, &'static str)],
    others: impl IntoIterator<Item = &'a mut Value>,
) -> Map<String, Value> {
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = Ids::default();
    for name in definitions.keys() {
        if is_component_key(name) {
            ids.used.insert(name.clone());
        }
    }
    for name in definitions.keys() {
        if !is_component_key(name) {
            renames.insert(name.clone(), ids.fresh(name));
        }
    }
    if renames.is_empty() {
        return definitions;
    }
    let mut out = Map::new();
    for (name, mut schema) in definitions {
        rewrite_refs(&mut schema, &renames);
        out.insert(renames.get(&name).cloned().unwrap_or(name), schema);
    }
    for (name, payload, _) in payloads.iter_mut() {
        rewrite_refs(payload, &renames);
        if let Some(new) = renames.get(name.as_str()) {
            *name = new.clone();
        }
    }
    for other in others {
        rewrite_refs(other, &renames);
    }
    out
}

fn rewrite_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(new) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .and_then(|name| renames.get(name))
                    {
                        *v = format!("#/components/schemas/{new}").into();
                    }
                } else {
                    rewrite_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

fn is_component_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_use_examples_then_types() {
        let defs: Map<String, Value> = serde_json::from_value(json!({
            "Inner": {"type": "object", "properties": {"n": {"type": "integer"}}}
        }))
        .unwrap();
        let schema = json!({
            "type": "object",
            "properties": {
                "msg": {"type": "string", "examples": ["Hello"]},
                "inner": {"$ref": "#/components/schemas/Inner"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "maybe": {"type": ["number", "null"]}
            }
        });
        assert_eq!(
            sample(&schema, &defs).unwrap(),
            json!({"msg": "Hello", "inner": {"n": 0}, "tags": ["string"], "maybe": 0.0})
        );
        assert!(has_field_examples(&schema, &defs, 0));
        assert_eq!(message_examples(&schema, &defs).len(), 1);
        assert!(message_examples(&defs["Inner"], &defs).is_empty());
    }
}
