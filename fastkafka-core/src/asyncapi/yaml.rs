//! The document as YAML.

use serde_json::{Map, Value};

/// The document as YAML (block style; strings quoted unless plainly safe).
///
/// ```
/// let yaml = fastkafka::asyncapi::to_yaml(&serde_json::json!({"a": [1, "x: y"], "b": {}}));
/// assert_eq!(yaml, "a:\n  - 1\n  - \"x: y\"\nb: {}\n");
/// ```
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => yaml_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => yaml_seq(items, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(key));
        out.push(':');
        yaml_value(value, indent, out);
    }
}

fn yaml_seq(items: &[Value], indent: usize, out: &mut String) {
    for value in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match value {
            Value::Object(map) if !map.is_empty() => {
                // The first key goes on the dash's line, the others under it.
                let mut first = true;
                for (key, v) in map {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&yaml_string(key));
                    out.push(':');
                    yaml_value(v, indent + 2, out);
                }
            }
            _ => yaml_value(value, indent, out),
        }
    }
}

/// Writes what follows `key:` or `-`: a scalar on the same line, a collection below.
fn yaml_value(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            yaml_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            yaml_seq(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a plain scalar when it cannot be mistaken for anything else, else
/// double-quoted (JSON's escapes are YAML's).
fn yaml_string(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_quotes_what_would_change_meaning() {
        let doc = json!({
            "asyncapi": "3.0.0",
            "t": "yes",
            "d": "line one\nline \"two\"",
            "ref": "#/components/schemas/X",
            "list": [{"name": "a", "n": 1}, [], "plain"],
            "none": null,
        });
        let yaml = to_yaml(&doc);
        assert_eq!(
            yaml,
            "asyncapi: \"3.0.0\"\nd: \"line one\\nline \\\"two\\\"\"\nlist:\n  - \"n\": 1\n    name: a\n  - []\n  - plain\nnone: null\nref: \"#/components/schemas/X\"\nt: \"yes\"\n"
        );
    }
}
