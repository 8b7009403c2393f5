//! The docs page: one self-contained HTML file rendered from the AsyncAPI document,
//! with inline CSS, readable without JavaScript and without network access.
//!
//! The style sheet and the script are `assets/docs.css` and `assets/docs.js`, inlined
//! at compile time; the HTML is written by one small function per part of the page
//! (head, navigation, info, servers, channels, operations, messages, schemas); the
//! tables of a schema's fields are in `fields`.
//!
//! The only script is the "publish example" button, shown when `fastkafka docs serve
//! --kafka-broker NAME` serves the page: it replaces the `null` in the
//! [`PUBLISH_CONFIG_SLOT`] with the broker's name.

mod fields;

use std::fmt::Write;

use serde_json::{Map, Value};

use self::fields::{fields_table, ref_name, type_label};

/// The publish configuration in the generated page: `null`, so a page opened from disk
/// or served without `--kafka-broker` is read-only.
pub(crate) const PUBLISH_CONFIG_SLOT: &str =
    r#"<script type="application/json" id="fastkafka-publish">null</script>"#;

/// The slot filled in for a server that publishes to `broker`.
pub(crate) fn publish_config(broker: &str) -> String {
    let config = serde_json::json!({ "broker": broker });
    format!(
        r#"<script type="application/json" id="fastkafka-publish">{}</script>"#,
        script_json(&config)
    )
}

/// Text with `& < > " '` escaped, safe in element content and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that cannot end a `<script>` element.
fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Paragraphs of a description, escaped; `` `code` `` spans become `<code>`.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let mut html = String::new();
        for (i, part) in escape(paragraph.trim()).split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(html, "<code>{part}</code>");
            } else {
                html.push_str(part);
            }
        }
        let _ = write!(out, "<p>{}</p>", html.replace('\n', " "));
    }
    out
}

/// The page's style sheet, inlined into the page.
const CSS: &str = include_str!("../../../../assets/docs.css");

/// The "publish example" script, inlined into the page.
const JS: &str = include_str!("../../../../assets/docs.js");

/// The parts of the AsyncAPI document the page shows.
struct Doc<'a> {
    doc: &'a Value,
    info: &'a Value,
    schemas: &'a Map<String, Value>,
    channels: &'a Map<String, Value>,
    operations: &'a Map<String, Value>,
    servers: &'a Map<String, Value>,
}

/// Renders the whole page.
pub(crate) fn render(doc: &Value) -> String {
    let empty = Map::new();
    let page = Doc {
        doc,
        info: &doc["info"],
        schemas: doc["components"]["schemas"].as_object().unwrap_or(&empty),
        channels: doc["channels"].as_object().unwrap_or(&empty),
        operations: doc["operations"].as_object().unwrap_or(&empty),
        servers: doc["servers"].as_object().unwrap_or(&empty),
    };
    let mut h = String::new();
    head(&mut h, str_of(page.info, "title"));
    nav(&mut h, &page);
    h.push_str("<main>\n");
    info_header(&mut h, &page);
    servers_section(&mut h, &page);
    channels_section(&mut h, &page);
    schemas_section(&mut h, &page);
    h.push_str("<details class=\"spec\"><summary>The AsyncAPI document</summary><p>Also in <code>../spec/asyncapi.yml</code> and <code>../spec/asyncapi.json</code>.</p></details>\n</main>\n");
    let _ = write!(
        h,
        "<script type=\"application/json\" id=\"asyncapi-spec\">{}</script>\n{PUBLISH_CONFIG_SLOT}\n<script>{JS}</script>\n</body>\n</html>\n",
        script_json(doc)
    );
    h
}

/// The document head, with the style sheet, and the opening `<body>`.
fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} – AsyncAPI docs</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(title)
    );
}

/// The side bar: servers, each channel, schemas.
fn nav(h: &mut String, page: &Doc) {
    h.push_str("<nav><p class=\"nav-title\">Contents</p><ul><li><a href=\"#servers\">Servers</a></li><li><a href=\"#channels\">Channels</a><ul>");
    for (id, channel) in page.channels {
        let _ = write!(
            h,
            "<li><a href=\"#channel-{}\">{}</a></li>",
            escape(id),
            escape(str_of(channel, "address"))
        );
    }
    h.push_str("</ul></li>");
    if !page.schemas.is_empty() {
        h.push_str("<li><a href=\"#schemas\">Schemas</a></li>");
    }
    h.push_str("</ul></nav>\n");
}

/// Title, version, description and contact.
fn info_header(h: &mut String, page: &Doc) {
    let info = page.info;
    let _ = write!(
        h,
        "<header><h1>{}</h1><p class=\"version\">version {} · AsyncAPI {}</p>{}",
        escape(str_of(info, "title")),
        escape(str_of(info, "version")),
        escape(str_of(page.doc, "asyncapi")),
        prose(str_of(info, "description"))
    );
    if let Some(contact) = info.get("contact") {
        let mut parts = vec![escape(str_of(contact, "name"))];
        if let Some(url) = contact.get("url").and_then(Value::as_str) {
            parts.push(format!("<a href=\"{0}\">{0}</a>", escape(url)));
        }
        if let Some(email) = contact.get("email").and_then(Value::as_str) {
            parts.push(format!("<a href=\"mailto:{0}\">{0}</a>", escape(email)));
        }
        let _ = write!(h, "<p class=\"contact\">Contact: {}</p>", parts.join(" · "));
    }
    h.push_str("</header>\n");
}

fn servers_section(h: &mut String, page: &Doc) {
    h.push_str("<section id=\"servers\"><h2>Servers</h2><table><thead><tr><th>Name</th><th>Host</th><th>Protocol</th><th>Description</th></tr></thead><tbody>");
    for (name, server) in page.servers {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(str_of(server, "host")),
            escape(str_of(server, "protocol")),
            escape(str_of(server, "description"))
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// Each channel, with its operations and messages.
fn channels_section(h: &mut String, page: &Doc) {
    h.push_str("<section id=\"channels\"><h2>Channels</h2>");
    for (id, channel) in page.channels {
        channel_article(h, page, id, channel);
    }
    h.push_str("</section>\n");
}

fn channel_article(h: &mut String, page: &Doc, id: &str, channel: &Value) {
    let address = str_of(channel, "address");
    let channel_ref = format!("#/channels/{id}");
    let ops: Vec<(&String, &Value)> = page
        .operations
        .iter()
        .filter(|(_, op)| op["channel"]["$ref"].as_str() == Some(channel_ref.as_str()))
        .collect();
    let received = ops.iter().any(|(_, op)| op["action"] == "receive");
    let _ = write!(
        h,
        "<article class=\"channel\" id=\"channel-{}\"><h3>Topic <code>{}</code></h3>{}",
        escape(id),
        escape(address),
        prose(str_of(channel, "description"))
    );
    if let Some(partitions) = channel["bindings"]["kafka"].get("partitions") {
        let _ = write!(h, "<p>Partitions: {partitions}</p>");
    }
    h.push_str("<h4>Operations</h4><ul class=\"operations\">");
    for (op_id, op) in &ops {
        operation_item(h, op_id, op);
    }
    h.push_str("</ul>");
    if let Some(messages) = channel["messages"].as_object() {
        for (message_id, message) in messages {
            let publish_to = received.then_some(address);
            render_message(h, id, message_id, message, page.schemas, publish_to);
        }
    }
    h.push_str("</article>\n");
}

/// One operation: its action, id, consumer group and description.
fn operation_item(h: &mut String, op_id: &str, op: &Value) {
    let action = str_of(op, "action");
    let _ = write!(
        h,
        "<li id=\"operation-{0}\"><span class=\"badge {1}\">{1}</span> <code>{0}</code>",
        escape(op_id),
        escape(action)
    );
    if let Some(group) = op["bindings"]["kafka"]["groupId"]["enum"][0].as_str() {
        let _ = write!(
            h,
            " <span class=\"group\">consumer group <code>{}</code></span>",
            escape(group)
        );
    }
    h.push_str(&prose(str_of(op, "description")));
    h.push_str("</li>");
}

fn schemas_section(h: &mut String, page: &Doc) {
    if page.schemas.is_empty() {
        return;
    }
    h.push_str("<section id=\"schemas\"><h2>Schemas</h2>");
    for (name, schema) in page.schemas {
        let _ = write!(
            h,
            "<article class=\"schema\" id=\"schema-{0}\"><h3><code>{0}</code></h3>{1}",
            escape(name),
            prose(str_of(schema, "description"))
        );
        fields_table(h, schema, page.schemas);
        h.push_str("</article>\n");
    }
    h.push_str("</section>\n");
}

/// One message: its metadata, payload and headers, examples, and the publish form
/// when the app consumes the topic (`publish_to`).
fn render_message(
    h: &mut String,
    channel_id: &str,
    message_id: &str,
    message: &Value,
    schemas: &Map<String, Value>,
    publish_to: Option<&str>,
) {
    let name = str_of(message, "name");
    let _ = write!(
        h,
        "<div class=\"message\" id=\"message-{}-{}\"><h4>Message <code>{}</code></h4>{}<p class=\"meta\">Content type <code>{}</code></p>",
        escape(channel_id),
        escape(message_id),
        escape(if name.is_empty() { message_id } else { name }),
        prose(str_of(message, "description")),
        escape(str_of(message, "contentType"))
    );
    let key = &message["bindings"]["kafka"]["key"];
    if !key.is_null() {
        let _ = write!(
            h,
            "<p class=\"meta\">Key: <code>{}</code> {}</p>",
            escape(&type_label(key)),
            escape(str_of(key, "description"))
        );
    }
    let payload = &message["payload"];
    h.push_str("<h5>Payload</h5>");
    if let Some(name) = ref_name(payload) {
        let _ = write!(
            h,
            "<p>Schema <a href=\"#schema-{0}\"><code>{0}</code></a></p>",
            escape(name)
        );
    }
    fields_table(h, payload, schemas);
    let headers = &message["headers"];
    if headers.is_object() {
        h.push_str("<h5>Headers</h5>");
        fields_table(h, headers, schemas);
    }
    let examples = message["examples"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for example in examples {
        let _ = write!(
            h,
            "<h5>Example <code>{}</code></h5><pre class=\"example\">{}</pre>",
            escape(str_of(example, "name")),
            escape(&pretty(&example["payload"]))
        );
    }
    if let Some(topic) = publish_to {
        publish_form(h, topic, message, schemas);
    }
    h.push_str("</div>");
}

/// The form the page's script shows when served with `--kafka-broker`, prefilled with
/// the message's first example (or a sample of its schema).
fn publish_form(h: &mut String, topic: &str, message: &Value, schemas: &Map<String, Value>) {
    let content_type = str_of(message, "contentType");
    let prefill = message["examples"]
        .get(0)
        .map(|e| e["payload"].clone())
        .or_else(|| fastkafka::asyncapi::sample(&message["payload"], schemas))
        .map(|v| match (content_type, v) {
            ("application/json", v) => pretty(&v),
            (_, Value::String(s)) => s,
            (_, _) => String::new(),
        })
        .unwrap_or_default();
    let _ = write!(
        h,
        "<form class=\"publish\" hidden data-topic=\"{}\" data-json=\"{}\"><h5>Publish an example to <code>{}</code> on <span class=\"broker\"></span></h5>\
         <label>Key <input name=\"key\" placeholder=\"no key\"></label>\
         <label>Payload <textarea name=\"payload\" rows=\"8\" spellcheck=\"false\">{}</textarea></label>\
         <button type=\"submit\">Publish example</button> <output></output></form>",
        escape(topic),
        content_type == "application/json",
        escape(topic),
        escape(&prefill)
    );
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(description: &str) -> Value {
        json!({
            "asyncapi": "3.0.0",
            "info": {"title": "Shop <b>", "version": "1.0.0", "description": description},
            "servers": {"local": {"host": "localhost:9092", "protocol": "kafka"}},
            "channels": {"orders_v1": {
                "address": "orders.v1",
                "messages": {"Order": {
                    "name": "Order", "contentType": "application/json",
                    "payload": {"$ref": "#/components/schemas/Order"},
                    "examples": [{"name": "example1", "payload": {"id": 1}}]
                }}
            }},
            "operations": {"on_orders": {
                "action": "receive", "channel": {"$ref": "#/channels/orders_v1"},
                "messages": [{"$ref": "#/channels/orders_v1/messages/Order"}],
                "bindings": {"kafka": {"groupId": {"type": "string", "enum": ["shop"]}}}
            }},
            "components": {"schemas": {"Order": {
                "type": "object", "required": ["id"],
                "properties": {
                    "id": {"type": "integer", "format": "uint64", "description": "The id.", "examples": [1]},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}}
                }
            }, "Line": {"type": "object", "properties": {"sku": {"type": "string", "description": "Its SKU."}}}}}
        })
    }

    #[test]
    fn the_page_shows_channels_operations_messages_and_fields() {
        let page = render(&doc("Sells things."));
        assert!(page.contains("Topic <code>orders.v1</code>"));
        assert!(page.contains("<code>on_orders</code>"));
        assert!(page.contains("consumer group <code>shop</code>"));
        assert!(page.contains("Message <code>Order</code>"));
        assert!(page.contains("<td><code>id</code></td><td><code>integer (uint64)</code></td><td>yes</td><td>The id.</td><td>1</td>"));
        assert!(page.contains("<td><code>lines[].sku</code></td>"));
        assert!(page.contains("<form class=\"publish\" hidden data-topic=\"orders.v1\""));
        assert!(page.contains(PUBLISH_CONFIG_SLOT));
    }

    #[test]
    fn descriptions_cannot_inject_markup_or_end_the_script() {
        let page = render(&doc("</script><script>alert(1)</script> <img src=x>"));
        assert!(!page.contains("<img src=x>"));
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("&lt;img src=x&gt;"));
        assert!(page.contains("Shop &lt;b&gt;"));
        // Exactly the page's own script elements.
        assert_eq!(page.matches("</script>").count(), 3);
    }

    #[test]
    fn the_publish_slot_takes_the_broker_name_as_json() {
        assert_eq!(
            publish_config("a</script>"),
            r#"<script type="application/json" id="fastkafka-publish">{"broker":"a\u003c/script\u003e"}</script>"#
        );
    }
}
