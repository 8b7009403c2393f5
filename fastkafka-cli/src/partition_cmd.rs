//! `fastkafka partition`: where keys go, explained without a broker.

use std::io::{BufRead, Write};

use clap::{Args, ValueEnum};
use fastkafka::partition::{murmur2, partition_for_key, to_positive};
use serde_json::json;

use crate::UsageError;

/// Show which partition each key goes to, by the Java client's rule (murmur2), which
/// fastkafka's producers follow.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  fastkafka partition --partitions 3 user1 user2\n  fastkafka partition --partitions 3 --resize-to 4 user1 user2 user3\n  cut -d, -f1 orders.csv | fastkafka partition --partitions 12 --format json\n  fastkafka partition --partitions 3 --hex 00ff 666f6f"
)]
pub(crate) struct PartitionArgs {
    /// Partitions of the topic.
    #[arg(long, value_name = "N")]
    partitions: i32,
    /// Also show where each key goes after the topic grows (or shrinks) to this many
    /// partitions, and how many keys move.
    #[arg(long, value_name = "N")]
    resize_to: Option<i32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Keys are hex strings of raw bytes (e.g. `666f6f` for `foo`).
    #[arg(long)]
    hex: bool,
    /// Keys, as UTF-8 text; none (or `-`) reads them from stdin, one a line.
    #[arg(value_name = "KEY")]
    keys: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One key's routing.
#[derive(Debug, PartialEq)]
struct Row {
    key: String,
    hash: i32,
    partition: i32,
    resized: Option<i32>,
}

impl Row {
    fn moves(&self) -> bool {
        self.resized.is_some_and(|p| p != self.partition)
    }
}

pub(crate) fn run(args: PartitionArgs) -> anyhow::Result<()> {
    let keys = if args.keys.is_empty() || args.keys == ["-"] {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect()
    } else {
        args.keys.clone()
    };
    let rows = route(&keys, args.partitions, args.resize_to, args.hex)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Table => write!(out, "{}", table(&rows, args.partitions, args.resize_to))?,
        Format::Json => writeln!(out, "{}", to_json(&rows, args.partitions, args.resize_to))?,
    }
    Ok(())
}

fn route(
    keys: &[String],
    partitions: i32,
    resize_to: Option<i32>,
    hex: bool,
) -> Result<Vec<Row>, UsageError> {
    if partitions < 1 {
        return Err(UsageError(format!(
            "--partitions must be at least 1, got {partitions}"
        )));
    }
    if let Some(n) = resize_to.filter(|n| *n < 1) {
        return Err(UsageError(format!(
            "--resize-to must be at least 1, got {n}"
        )));
    }
    if keys.is_empty() {
        return Err(UsageError(
            "no keys: give them as arguments or on stdin, one a line".into(),
        ));
    }
    keys.iter()
        .map(|key| {
            let bytes = if hex {
                decode_hex(key)
                    .map_err(|why| UsageError(format!("key {key:?} is not hex: {why}")))?
            } else {
                key.as_bytes().to_vec()
            };
            Ok(Row {
                key: key.clone(),
                hash: murmur2(&bytes),
                partition: partition_for_key(&bytes, partitions),
                resized: resize_to.map(|n| partition_for_key(&bytes, n)),
            })
        })
        .collect()
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return Err(format!(
            "it has {} digits; bytes need an even number",
            s.len()
        ));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| format!("`{}` at position {i} is not a hex byte", &s[i..i + 2]))
        })
        .collect()
}

fn table(rows: &[Row], partitions: i32, resize_to: Option<i32>) -> String {
    let key_width = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = format!(
        "{:<key_width$}  {:>11}  {:>13}  {:>9}",
        "key",
        "murmur2",
        "positive",
        format!("% {partitions}")
    );
    if let Some(n) = resize_to {
        out += &format!("  {:>9}  moves", format!("% {n}"));
    }
    out.push('\n');
    for r in rows {
        out += &format!(
            "{:<key_width$}  {:>11}  {:>13}  {:>9}",
            r.key,
            r.hash,
            to_positive(r.hash),
            r.partition
        );
        if let Some(p) = r.resized {
            out += &format!("  {:>9}  {}", p, if r.moves() { "yes" } else { "no" });
        }
        out.push('\n');
    }
    if let Some(n) = resize_to {
        let moved = rows.iter().filter(|r| r.moves()).count();
        out += &format!(
            "{moved} of {} keys move when the topic goes from {partitions} to {n} partitions\n",
            rows.len()
        );
    }
    out
}

fn to_json(rows: &[Row], partitions: i32, resize_to: Option<i32>) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({
                "key": r.key,
                "hash": r.hash,
                "positive_hash": to_positive(r.hash),
                "partition": r.partition,
            });
            if let Some(p) = r.resized {
                v["partition_after_resize"] = json!(p);
                v["moves"] = json!(r.moves());
            }
            v
        })
        .collect();
    let mut doc = json!({ "partitions": partitions, "keys": keys });
    if let Some(n) = resize_to {
        doc["resize_to"] = json!(n);
        doc["moved"] = json!(rows.iter().filter(|r| r.moves()).count());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rows_follow_the_java_rule() {
        let rows = route(&keys(&["21", "foobar"]), 3, None, false).unwrap();
        assert_eq!(rows[0].hash, -973932308);
        assert_eq!(rows[0].partition, (-973932308i32 & 0x7fffffff) % 3);
        assert_eq!(rows[1].hash, -790332482);
        assert_eq!(rows[1].partition, (-790332482i32 & 0x7fffffff) % 3);
    }

    #[test]
    fn hex_keys_are_raw_bytes() {
        let text = route(&keys(&["foo"]), 5, None, false).unwrap();
        let hex = route(&keys(&["666f6f"]), 5, None, true).unwrap();
        assert_eq!(text[0].hash, hex[0].hash);
        let err = route(&keys(&["6g"]), 5, None, true).unwrap_err().0;
        assert!(
            err.contains("\"6g\"") && err.contains("not a hex byte"),
            "{err}"
        );
        assert!(route(&keys(&["abc"]), 5, None, true)
            .unwrap_err()
            .0
            .contains("even number"));
    }

    #[test]
    fn resizing_reports_the_keys_that_move() {
        let rows = route(
            &keys(&["user1", "user2", "user3", "user4"]),
            3,
            Some(4),
            false,
        )
        .unwrap();
        let moved = rows.iter().filter(|r| r.moves()).count();
        let text = table(&rows, 3, Some(4));
        assert!(
            text.contains(&format!(
                "{moved} of 4 keys move when the topic goes from 3 to 4 partitions"
            )),
            "{text}"
        );
        let doc = to_json(&rows, 3, Some(4));
        assert_eq!(doc["moved"], moved);
        assert_eq!(
            doc["keys"][0]["partition_after_resize"],
            partition_for_key(b"user1", 4)
        );
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        assert!(route(&keys(&["a"]), 0, None, false)
            .unwrap_err()
            .0
            .contains("--partitions"));
        assert!(route(&keys(&["a"]), 3, Some(0), false)
            .unwrap_err()
            .0
            .contains("--resize-to"));
        assert!(route(&[], 3, None, false)
            .unwrap_err()
            .0
            .contains("no keys"));
    }
}
