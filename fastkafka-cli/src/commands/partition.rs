//! `fastkafka partition`: where keys go, explained without a broker.

use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Write};

use clap::{Args, ValueEnum};
use fastkafka::partition::{murmur2, partition_for_key, to_positive, PartitionCount};
use serde_json::json;

use crate::UsageError;

/// Show which partition each key goes to, as Kafka's Java client and fastkafka pick it.
///
/// The rule: murmur2 of the key bytes, sign bit cleared, modulo the partition count.
/// Every client that follows it (Java, fastkafka, librdkafka's `murmur2_random`)
/// puts a key on the same partition.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  fastkafka partition --partitions 3 user1 user2\n  fastkafka partition --partitions 3 --resize-to 4 user1 user2 user3\n  cut -d, -f1 orders.csv | fastkafka partition --partitions 12 --format json\n  fastkafka partition --partitions 3 --hex 00ff 666f6f"
)]
pub(crate) struct PartitionArgs {
    /// Partitions of the topic (at least 1).
    #[arg(long, value_name = "N")]
    partitions: i32,
    /// Also show where each key goes after the topic grows (or shrinks) to this many
    /// partitions, and how many keys move.
    #[arg(long, value_name = "N")]
    resize_to: Option<i32>,
    /// Output format: an aligned table, or one JSON document for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Keys are hex strings of raw bytes (e.g. `666f6f` for `foo`), and are printed as hex.
    #[arg(long)]
    hex: bool,
    /// Keys, as UTF-8 text. With none, or `-`, keys are read from stdin, one a line.
    #[arg(value_name = "KEY")]
    keys: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One key's routing.
#[derive(Debug, PartialEq)]
struct Row {
    /// The key as shown: the text, or with `--hex` its bytes in lowercase hex.
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

/// Runs `fastkafka partition`, printing to stdout. A mistake in the arguments or
/// the keys is a [`UsageError`].
pub(crate) fn run(args: PartitionArgs) -> anyhow::Result<()> {
    let keys = gather_keys(&args.keys, || {
        let mut stdin = std::io::stdin().lock();
        if stdin.is_terminal() {
            return Ok(None);
        }
        let mut input = Vec::new();
        stdin.read_to_end(&mut input)?;
        Ok(Some(input))
    })?;
    let rows = route(&keys, args.partitions, args.resize_to, args.hex)?;
    let text = match args.format {
        Format::Table => table(&rows, args.partitions, args.resize_to),
        Format::Json => format!("{}\n", to_json(&rows, args.partitions, args.resize_to)),
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // `fastkafka partition ... | head` is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

/// The keys to route: the arguments, with stdin's lines in place of `-` (or as the
/// only source when there are no arguments). `read_stdin` gives stdin's bytes, or
/// `None` when stdin is a terminal, which nobody is piping keys into.
fn gather_keys(
    args: &[String],
    read_stdin: impl FnOnce() -> std::io::Result<Option<Vec<u8>>>,
) -> anyhow::Result<Vec<String>> {
    if !args.is_empty() && !args.iter().any(|a| a == "-") {
        return Ok(args.to_vec());
    }
    let from_stdin = match read_stdin()? {
        Some(input) => stdin_lines(&input)?,
        None if args.is_empty() => {
            return Err(UsageError(
                "no keys: give them as arguments, or pipe them on stdin, one a line".into(),
            )
            .into())
        }
        None => Vec::new(),
    };
    if args.is_empty() {
        return Ok(from_stdin);
    }
    // Stdin is read once: the first `-` takes its lines, any later `-` adds nothing.
    let mut from_stdin = Some(from_stdin);
    let mut keys = Vec::new();
    for arg in args {
        if arg == "-" {
            keys.extend(from_stdin.take().into_iter().flatten());
        } else {
            keys.push(arg.clone());
        }
    }
    Ok(keys)
}

/// Splits stdin into keys, one a line: only the line ending (`\n` or `\r\n`) is
/// removed, so spaces are part of a key. The last line needs no line ending.
fn stdin_lines(input: &[u8]) -> Result<Vec<String>, UsageError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let input = input.strip_suffix(b"\n").unwrap_or(input);
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec()).map_err(|_| {
                UsageError(format!(
                    "line {} of stdin is not UTF-8 text; give keys of raw bytes as hex with --hex (e.g. from `xxd -p`)",
                    i + 1
                ))
            })
        })
        .collect()
}

/// Routes each key for `partitions` (and `resize_to`) partitions; checks the input.
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
            "no keys: give them as arguments, or pipe them on stdin, one a line".into(),
        ));
    }
    keys.iter()
        .map(|key| {
            let (bytes, shown) = if hex {
                let bytes = decode_hex(key)
                    .map_err(|why| UsageError(format!("key {key:?} is not hex: {why}")))?;
                let shown = encode_hex(&bytes);
                (bytes, shown)
            } else {
                (key.as_bytes().to_vec(), key.clone())
            };
            Ok(Row {
                key: shown,
                hash: murmur2(&bytes),
                partition: partition_for_key(&bytes, partitions),
                resized: resize_to.map(|n| partition_for_key(&bytes, n)),
            })
        })
        .collect()
}

/// Hex digits, two a byte, either case; surrounding whitespace is ignored.
fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    fn digit(c: char) -> Option<u8> {
        c.to_digit(16).map(|d| d as u8)
    }
    let s = s.trim();
    if let Some((i, c)) = s.char_indices().find(|&(_, c)| digit(c).is_none()) {
        return Err(format!("{c:?} at position {i} is not a hex digit"));
    }
    // Only ASCII hex digits are left, so a byte is a char.
    if s.len() % 2 != 0 {
        return Err(format!(
            "it has {} digits; bytes need an even number",
            s.len()
        ));
    }
    Ok(s.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let hi = digit(char::from(pair[0])).unwrap_or(0);
            let lo = digit(char::from(pair[1])).unwrap_or(0);
            hi << 4 | lo
        })
        .collect())
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A key as the table shows it: as is, or quoted and escaped when it is empty or
/// holds control characters (a tab would break the columns).
fn key_cell(key: &str) -> String {
    if key.is_empty() || key.chars().any(char::is_control) {
        format!("{key:?}")
    } else {
        key.to_string()
    }
}

fn table(rows: &[Row], partitions: i32, resize_to: Option<i32>) -> String {
    let keys: Vec<String> = rows.iter().map(|r| key_cell(&r.key)).collect();
    let key_width = keys
        .iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<key_width$}  {:>11}  {:>13}  {:>9}",
        "key",
        "murmur2",
        "positive",
        format!("% {partitions}")
    );
    if let Some(n) = resize_to {
        let _ = write!(out, "  {:>9}  moves", format!("% {n}"));
    }
    out.push('\n');
    for (r, key) in rows.iter().zip(&keys) {
        let _ = write!(
            out,
            "{key:<key_width$}  {:>11}  {:>13}  {:>9}",
            r.hash,
            to_positive(r.hash),
            r.partition
        );
        if let Some(p) = r.resized {
            let _ = write!(out, "  {p:>9}  {}", if r.moves() { "yes" } else { "no" });
        }
        out.push('\n');
    }
    if let Some(n) = resize_to {
        let moved = rows.iter().filter(|r| r.moves()).count();
        let _ = writeln!(
            out,
            "{moved} of {} keys move when the topic goes from {partitions} to {}",
            rows.len(),
            PartitionCount(n)
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

    fn no_stdin() -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    #[test]
    fn rows_follow_the_java_rule() {
        // Hashes from Apache Kafka's UtilsTest.testMurmur2.
        let rows = route(&keys(&["21", "foobar"]), 3, None, false).unwrap();
        assert_eq!(rows[0].hash, -973932308);
        assert_eq!(rows[0].partition, 1173551340 % 3);
        assert_eq!(rows[1].hash, -790332482);
        assert_eq!(rows[1].partition, 1357151166 % 3);
    }

    #[test]
    fn the_table_is_aligned_with_a_header() {
        let rows = route(&keys(&["user1", "user2"]), 3, None, false).unwrap();
        assert_eq!(
            table(&rows, 3, None),
            "\
key        murmur2       positive        % 3
user1   1619149554     1619149554          0
user2   -681250719     1466232929          2
"
        );
    }

    #[test]
    fn resizing_reports_the_keys_that_move() {
        let names = keys(&["user1", "user2", "user3", "user4", "user5", "user6"]);
        let rows = route(&names, 3, Some(4), false).unwrap();
        assert_eq!(
            table(&rows, 3, Some(4)),
            "\
key        murmur2       positive        % 3        % 4  moves
user1   1619149554     1619149554          0          2  yes
user2   -681250719     1466232929          2          1  yes
user3   -850927293     1296556355          2          3  yes
user4  -1794944515      352539133          1          1  no
user5   1859898118     1859898118          1          2  yes
user6   1668279864     1668279864          0          0  no
4 of 6 keys move when the topic goes from 3 to 4 partitions
"
        );
        let doc = to_json(&rows, 3, Some(4));
        assert_eq!(doc["partitions"], 3);
        assert_eq!(doc["resize_to"], 4);
        assert_eq!(doc["moved"], 4);
        assert_eq!(
            doc["keys"][0],
            json!({
                "key": "user1",
                "hash": 1619149554,
                "positive_hash": 1619149554,
                "partition": 0,
                "partition_after_resize": 2,
                "moves": true,
            })
        );
        assert_eq!(doc["keys"][3]["moves"], false);
    }

    #[test]
    fn shrinking_to_one_partition_says_partition() {
        let rows = route(&keys(&["user1", "user2"]), 3, Some(1), false).unwrap();
        let text = table(&rows, 3, Some(1));
        assert!(
            text.ends_with("1 of 2 keys move when the topic goes from 3 to 1 partition\n"),
            "{text}"
        );
    }

    #[test]
    fn json_without_resizing_has_no_resize_fields() {
        let rows = route(&keys(&["user2"]), 3, None, false).unwrap();
        assert_eq!(
            to_json(&rows, 3, None),
            json!({
                "partitions": 3,
                "keys": [{
                    "key": "user2",
                    "hash": -681250719,
                    "positive_hash": 1466232929,
                    "partition": 2,
                }],
            })
        );
    }

    #[test]
    fn hex_keys_are_raw_bytes_and_are_shown_as_hex() {
        let text = route(&keys(&["foo"]), 5, None, false).unwrap();
        let hex = route(&keys(&["666F6f"]), 5, None, true).unwrap();
        assert_eq!(
            (hex[0].hash, hex[0].partition),
            (text[0].hash, text[0].partition)
        );
        assert_eq!(hex[0].key, "666f6f");
        // Bytes that are not UTF-8; the empty key.
        let rows = route(&keys(&["00ff", ""]), 1000, None, true).unwrap();
        assert_eq!(rows[0].hash, murmur2(&[0x00, 0xff]));
        assert_eq!(rows[1].partition, 681); // kafka-python's Java-compatibility vector
        assert_eq!(to_json(&rows, 1000, None)["keys"][0]["key"], "00ff");
    }

    #[test]
    fn bad_hex_names_the_key_and_the_reason() {
        let err = |k: &str| route(&keys(&[k]), 5, None, true).unwrap_err().0;
        assert_eq!(
            err("zz"),
            "key \"zz\" is not hex: 'z' at position 0 is not a hex digit"
        );
        assert_eq!(
            err("abc"),
            "key \"abc\" is not hex: it has 3 digits; bytes need an even number"
        );
        // No sign, no prefix, no multi-byte characters (which must not panic).
        assert!(err("+f").contains("'+' at position 0"));
        assert!(err("0x00").contains("'x' at position 1"));
        assert!(err("aé0").contains("'é' at position 1"));
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let err = |k: &[&str], p, r| route(&keys(k), p, r, false).unwrap_err().0;
        assert_eq!(
            err(&["a"], 0, None),
            "--partitions must be at least 1, got 0"
        );
        assert_eq!(
            err(&["a"], -2, None),
            "--partitions must be at least 1, got -2"
        );
        assert_eq!(
            err(&["a"], 3, Some(0)),
            "--resize-to must be at least 1, got 0"
        );
        assert!(err(&[], 3, None).starts_with("no keys"));
    }

    #[test]
    fn stdin_gives_one_key_a_line_with_only_the_line_ending_removed() {
        let lines = stdin_lines(b"user1\r\n user2 \n\nuser3").unwrap();
        assert_eq!(lines, ["user1", " user2 ", "", "user3"]);
        assert_eq!(stdin_lines(b"a\r\r\n").unwrap(), ["a\r"]);
        assert_eq!(stdin_lines(b"a\n").unwrap(), ["a"]);
        assert!(stdin_lines(b"").unwrap().is_empty());
        // An empty line is the empty key, which Kafka hashes like any other.
        assert_eq!(stdin_lines(b"\n").unwrap(), [""]);
        assert_eq!(stdin_lines(b"\n\n").unwrap(), ["", ""]);
        let err = stdin_lines(b"ok\n\xff\n").unwrap_err().0;
        assert!(err.starts_with("line 2 of stdin is not UTF-8"), "{err}");
    }

    #[test]
    fn keys_come_from_arguments_stdin_or_both() {
        let stdin = || Ok(Some(b"b\nc\n".to_vec()));
        assert_eq!(gather_keys(&keys(&["a"]), stdin).unwrap(), ["a"]);
        assert_eq!(gather_keys(&[], stdin).unwrap(), ["b", "c"]);
        assert_eq!(gather_keys(&keys(&["-"]), stdin).unwrap(), ["b", "c"]);
        assert_eq!(
            gather_keys(&keys(&["a", "-", "d", "-"]), stdin).unwrap(),
            ["a", "b", "c", "d"]
        );
        let err = gather_keys(&[], no_stdin).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
        assert_eq!(gather_keys(&keys(&["a", "-"]), no_stdin).unwrap(), ["a"]);
    }

    #[test]
    fn awkward_keys_are_quoted_in_the_table() {
        let rows = route(&keys(&["", "a\tb"]), 3, None, false).unwrap();
        let text = table(&rows, 3, None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("\"\"    "), "{text}");
        assert!(lines[2].starts_with("\"a\\tb\""), "{text}");
        // JSON keeps the key as it is.
        assert_eq!(to_json(&rows, 3, None)["keys"][1]["key"], "a\tb");
    }
}
