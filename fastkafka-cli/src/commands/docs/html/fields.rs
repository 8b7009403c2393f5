//! The tables of a schema's fields, nested objects flattened to `a.b` and `list[].b`,
//! and the short type labels in them.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::{Map, Value};

use super::{escape, str_of};

/// The name a `$ref` to `#/components/schemas/NAME` points to.
pub(super) fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

/// The schema `schema` stands for: itself, or what its `$ref` (or a lone `allOf`
/// around a `$ref`) names.
fn resolve<'a>(schema: &'a Value, schemas: &'a Map<String, Value>) -> (&'a Value, Option<&'a str>) {
    let target = schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|all| all.len() == 1)
        .map_or(schema, |all| &all[0]);
    match ref_name(target) {
        Some(name) => (schemas.get(name).unwrap_or(target), Some(name)),
        None => (schema, None),
    }
}

/// A short type: `string`, `integer (uint64)`, `array of OrderLine`, `string | null`.
pub(super) fn type_label(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return name.to_string();
    }
    if let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return type_label(only);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            return options
                .iter()
                .map(type_label)
                .collect::<Vec<_>>()
                .join(" | ");
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        return format!("one of {}", values.join(", "));
    }
    if let Some(value) = schema.get("const") {
        return format!("= {value}");
    }
    let mut label = match schema.get("type") {
        Some(Value::String(t)) if t == "array" => match schema.get("items") {
            Some(items) => format!("array of {}", type_label(items)),
            None => "array".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    };
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        let _ = write!(label, " ({format})");
    }
    label
}

struct Row {
    path: String,
    ty: String,
    required: bool,
    description: String,
    examples: String,
}

/// The payload's fields as a table, nested objects flattened to `a.b` and `list[].b`.
pub(super) fn fields_table(h: &mut String, schema: &Value, schemas: &Map<String, Value>) {
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    collect_fields(schema, schemas, "", &mut seen, &mut rows, 0);
    if rows.is_empty() {
        let (resolved, _) = resolve(schema, schemas);
        let _ = write!(
            h,
            "<table class=\"fields\"><thead><tr><th>Type</th><th>Description</th></tr></thead><tbody><tr><td><code>{}</code></td><td>{}</td></tr></tbody></table>",
            escape(&type_label(resolved)),
            escape(str_of(resolved, "description"))
        );
        return;
    }
    h.push_str("<table class=\"fields\"><thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th><th>Examples</th></tr></thead><tbody>");
    for row in rows {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&row.path),
            escape(&row.ty),
            if row.required { "yes" } else { "no" },
            escape(&row.description),
            escape(&row.examples)
        );
    }
    h.push_str("</tbody></table>");
}

fn collect_fields(
    schema: &Value,
    schemas: &Map<String, Value>,
    prefix: &str,
    seen: &mut BTreeSet<String>,
    rows: &mut Vec<Row>,
    depth: usize,
) {
    if depth > 6 {
        return;
    }
    let (schema, name) = resolve(schema, schemas);
    // A type that contains itself is listed once.
    if let Some(name) = name {
        if !seen.insert(name.to_string()) {
            return;
        }
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        if let Some(name) = name {
            seen.remove(name);
        }
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (field, prop) in properties {
        let path = format!("{prefix}{field}");
        let (target, _) = resolve(prop, schemas);
        let description = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let examples = prop
            .get("examples")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        rows.push(Row {
            path: path.clone(),
            ty: type_label(prop),
            required: required.contains(&field.as_str()),
            description,
            examples,
        });
        if target.get("properties").is_some() {
            collect_fields(prop, schemas, &format!("{path}."), seen, rows, depth + 1);
        } else if let Some(items) = target.get("items") {
            collect_fields(items, schemas, &format!("{path}[]."), seen, rows, depth + 1);
        }
    }
    if let Some(name) = name {
        seen.remove(name);
    }
}
