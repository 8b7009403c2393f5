//! What the CLI asks an app binary and what the app answers, as typed structs: the
//! handshake (`APP brokers`), the topics to create (`APP topics`), the AsyncAPI
//! document (`APP asyncapi --format json`) and one published message (`APP publish`). An answer that does not have the expected
//! shape is an error, never a silently skipped entry.
//!
//! The app's side is `fastkafka::cli` (the hidden subcommands of `fastkafka::main!`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

pub(crate) use fastkafka::protocol::{DeclaredTopic, Handshake, Published};

use crate::UsageError;

/// How long an app gets to answer the handshake: it only builds its description.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// More output than any app's handshake answer: the program is something else.
const HANDSHAKE_LIMIT: u64 = 1 << 20;

/// Asks `binary` the app handshake (`APP brokers`); a program that does not answer it
/// is not a fastkafka app, which is a usage error.
pub(crate) async fn handshake(binary: &Path) -> anyhow::Result<Handshake> {
    let mut child = tokio::process::Command::new(binary)
        .arg("brokers")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            UsageError(format!(
                "cannot run APP `{}`: {e}; give the path to a built fastkafka app binary",
                binary.display()
            ))
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        anyhow::bail!("cannot read the output of `{} brokers`", binary.display());
    };
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut stdout, mut stderr) = (stdout.take(HANDSHAKE_LIMIT), stderr.take(HANDSHAKE_LIMIT));
        let _ = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        if out.len() as u64 >= HANDSHAKE_LIMIT {
            return (None, out, err);
        }
        (child.wait().await.ok(), out, err)
    })
    .await;
    let not_an_app = |why: String| {
        UsageError(format!(
            "APP `{}` is not a fastkafka app (it did not answer the app handshake: {why})",
            binary.display()
        ))
    };
    let (status, out, err) = answer.map_err(|_| {
        not_an_app(format!(
            "`brokers` got no answer within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        ))
    })?;
    let Some(status) = status else {
        return Err(not_an_app("`brokers` printed more than an app ever does".into()).into());
    };
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let first = err.lines().map(str::trim).find(|l| !l.is_empty());
        return Err(not_an_app(match first {
            Some(line) => format!("`brokers` failed ({status}): {line}"),
            None => format!("`brokers` failed ({status})"),
        })
        .into());
    }
    let answer = parse_handshake(&out).ok_or_else(|| {
        not_an_app(if out.iter().all(u8::is_ascii_whitespace) {
            "`brokers` printed nothing".into()
        } else {
            "`brokers` did not print the brokers as JSON".into()
        })
    })?;
    answer
        .check_version()
        .map_err(|why| UsageError(format!("APP `{}`: {why}", binary.display())))?;
    Ok(answer)
}

/// The answer, or `None` when the output is not one (a malformed entry included).
fn parse_handshake(out: &[u8]) -> Option<Handshake> {
    serde_json::from_slice(out).ok()
}

/// `APP topics`: the topics the app declares.
pub(crate) async fn declared_topics(binary: &Path) -> anyhow::Result<Vec<DeclaredTopic>> {
    let out = Command::new(binary).arg("topics").output().await?;
    if !out.status.success() {
        anyhow::bail!(
            "`{} topics` failed ({}): is it a fastkafka app? {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_topics(&out.stdout).with_context(|| {
        format!(
            "`{} topics` did not print its topics as JSON",
            binary.display()
        )
    })
}

/// `[{"topic": NAME, "partitions": N or null, "consumed": BOOL}, ...]`, as `APP topics`
/// prints it.
fn parse_topics(out: &[u8]) -> serde_json::Result<Vec<DeclaredTopic>> {
    serde_json::from_slice(out)
}

/// `APP asyncapi --format json`: the app's AsyncAPI document.
pub(crate) async fn asyncapi_document(binary: &Path) -> anyhow::Result<Value> {
    let out = Command::new(binary)
        .args(["asyncapi", "--format", "json"])
        .output()
        .await
        .with_context(|| format!("cannot run `{}`", binary.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(UsageError(format!(
            "`{} asyncapi` failed ({}): is it a fastkafka app? {}",
            binary.display(),
            out.status,
            stderr.lines().next().unwrap_or_default().trim()
        ))
        .into());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        UsageError(format!(
            "`{} asyncapi` did not print an AsyncAPI document ({e}): is it a fastkafka app?",
            binary.display()
        ))
        .into()
    })
}

/// `APP publish`: sends `payload` (on the app's stdin) to `topic` on the broker
/// `broker_arg` names, through the app, so a broker's credentials never leave it.
/// Where it landed, or the app's error line.
pub(crate) async fn publish(
    binary: &Path,
    broker_arg: &str,
    topic: &str,
    key: Option<&str>,
    payload: &str,
) -> anyhow::Result<Published> {
    let mut command = Command::new(binary);
    command
        .args(["publish", "--kafka-broker", broker_arg, "--topic", topic])
        .args(key.map(|k| ["--key", k]).into_iter().flatten())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run `{}`", binary.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(payload.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if out.status.success() {
        return serde_json::from_slice(&out.stdout)
            .with_context(|| format!("`{} publish` printed no delivery", binary.display()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or("the app could not send it");
    anyhow::bail!("{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_answer_gives_the_default_and_the_names() {
        let answer = br#"{"default":"development","brokers":[{"name":"development","bootstrap":"localhost:9092"},{"name":"production","bootstrap":"kafka:9092"}]}"#;
        let handshake = parse_handshake(answer).unwrap();
        assert_eq!(handshake.default, "development");
        assert_eq!(
            handshake.names().collect::<Vec<_>>(),
            ["development", "production"]
        );
        for not_an_answer in [&b""[..], b"hello", b"{}", br#"{"default":1,"brokers":[]}"#] {
            assert_eq!(parse_handshake(not_an_answer), None);
        }
    }

    #[test]
    fn a_malformed_topic_entry_is_an_error_not_a_skipped_topic() {
        assert_eq!(
            parse_topics(br#"[{"topic":"a","partitions":3}]"#).unwrap(),
            vec![DeclaredTopic {
                topic: "a".into(),
                partitions: Some(3),
                consumed: false,
            }],
            "an app that speaks version 1"
        );
        assert_eq!(
            parse_topics(br#"[{"topic":"a","partitions":null,"consumed":true}]"#).unwrap(),
            vec![DeclaredTopic {
                topic: "a".into(),
                partitions: None,
                consumed: true,
            }]
        );
        for malformed in [
            &br#"[{"topic":"a"}]"#[..],
            br#"[{"topic":1,"partitions":3}]"#,
            br#"[{"topic":"a","partitions":3},{"partitions":1}]"#,
            br#"[{"topic":"a","partitions":4294967296}]"#,
            br#"{"topic":"a","partitions":3}"#,
        ] {
            assert!(
                parse_topics(malformed).is_err(),
                "{}",
                String::from_utf8_lossy(malformed)
            );
        }
        for not_an_answer in [
            &br#"{"default":"d","brokers":[{"bootstrap":"x:1"}]}"#[..],
            br#"{"default":"d","brokers":[{"name":2}]}"#,
        ] {
            assert_eq!(parse_handshake(not_an_answer), None);
        }
    }
}
