//! Finding the app binary that `fastkafka run APP` means: a path to a built binary, or
//! the name of a bin or example target in the current cargo workspace (built first);
//! and the handshake that tells a fastkafka app from any other program.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::io::AsyncReadExt;

use crate::{console, UsageError};

/// The app binary for `app`, building it first when it is a cargo target.
pub(crate) fn resolve(app: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(app);
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if app.contains('/') {
        return Err(UsageError(format!("APP `{app}` does not exist; give the path to a built app binary, or the name of a bin or example target of this cargo workspace")).into());
    }
    let workspace = cargo_metadata().map_err(|e| {
        UsageError(format!(
            "APP `{app}` is not a file, and no cargo workspace was found here to look for a target of that name ({e})"
        ))
    })?;
    let Some(target) = workspace.targets.iter().find(|t| t.name == app) else {
        let names: Vec<&str> = workspace.targets.iter().map(|t| t.name.as_str()).collect();
        return Err(UsageError(format!(
            "APP `{app}` is neither a file nor a bin or example target of this workspace; targets: {}",
            names.join(", ")
        ))
        .into());
    };
    build(target)?;
    let dir = workspace.target_directory.join("release");
    Ok(match target.kind {
        Kind::Bin => dir.join(&target.name),
        Kind::Example => dir.join("examples").join(&target.name),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bin,
    Example,
}

struct Target {
    package: String,
    name: String,
    kind: Kind,
}

struct Workspace {
    target_directory: PathBuf,
    targets: Vec<Target>,
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The bin and example targets of the workspace here (`cargo metadata --no-deps`).
fn cargo_metadata() -> anyhow::Result<Workspace> {
    let meta = cargo_metadata::MetadataCommand::new()
        .cargo_path(cargo())
        .no_deps()
        .exec()
        .map_err(|e| match e {
            // cargo's own first line says what is wrong (no Cargo.toml, a broken one).
            cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
                "{}",
                stderr
                    .lines()
                    .next()
                    .unwrap_or("cargo metadata failed")
                    .trim()
            ),
            cargo_metadata::Error::Io(e) => anyhow::Error::new(e).context("cannot run cargo"),
            e => e.into(),
        })?;
    let targets = meta
        .packages
        .iter()
        .flat_map(|package| package.targets.iter().map(move |t| (package, t)))
        .filter_map(|(package, target)| {
            let kind = if target.is_bin() {
                Kind::Bin
            } else if target.is_example() {
                Kind::Example
            } else {
                return None;
            };
            Some(Target {
                package: package.name.to_string(),
                name: target.name.clone(),
                kind,
            })
        })
        .collect();
    Ok(Workspace {
        target_directory: meta.target_directory.into_std_path_buf(),
        targets,
    })
}

/// `cargo build --release` of the target, with cargo's own progress on stderr.
fn build(target: &Target) -> anyhow::Result<()> {
    let flag = match target.kind {
        Kind::Bin => "--bin",
        Kind::Example => "--example",
    };
    console::err(&format!(
        "[fastkafka] building {} `{}` (release)",
        flag.trim_start_matches("--"),
        target.name
    ));
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "-p",
            &target.package,
            flag,
            &target.name,
        ])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        anyhow::bail!("cargo build of `{}` failed ({status})", target.name);
    }
    Ok(())
}

/// How long an app gets to answer the handshake: it only builds its description.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// More output than any app's handshake answer: the program is something else.
const HANDSHAKE_LIMIT: u64 = 1 << 20;

/// What an app says about itself in the handshake (`APP brokers`): only what the CLI
/// needs to start it, never a broker's properties (they hold credentials).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AppBrokers {
    /// The broker the app runs against when `--kafka-broker` is not given.
    pub(crate) default: String,
    /// The names of the brokers the app defines.
    pub(crate) names: Vec<String>,
}

/// Asks `binary` the app handshake (`APP brokers`); a program that does not answer it
/// is not a fastkafka app, which is a usage error.
pub(crate) async fn handshake(binary: &Path) -> anyhow::Result<AppBrokers> {
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
    parse_handshake(&out).ok_or_else(|| {
        not_an_app(if out.iter().all(u8::is_ascii_whitespace) {
            "`brokers` printed nothing".into()
        } else {
            "`brokers` did not print the brokers as JSON".into()
        })
        .into()
    })
}

/// `{"default": NAME, "brokers": [{"name": NAME, ...}, ...]}`, as `APP brokers` prints it.
fn parse_handshake(out: &[u8]) -> Option<AppBrokers> {
    let answer: serde_json::Value = serde_json::from_slice(out).ok()?;
    let default = answer.get("default")?.as_str()?.to_string();
    let names = answer
        .get("brokers")?
        .as_array()?
        .iter()
        .map(|b| b.get("name")?.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    Some(AppBrokers { default, names })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_answer_gives_the_default_and_the_names() {
        let answer = br#"{"default":"development","brokers":[{"name":"development","bootstrap":"localhost:9092"},{"name":"production","bootstrap":"kafka:9092"}]}"#;
        assert_eq!(
            parse_handshake(answer),
            Some(AppBrokers {
                default: "development".into(),
                names: vec!["development".into(), "production".into()],
            })
        );
        for not_an_answer in [&b""[..], b"hello", b"{}", br#"{"default":1,"brokers":[]}"#] {
            assert_eq!(parse_handshake(not_an_answer), None);
        }
    }
}
