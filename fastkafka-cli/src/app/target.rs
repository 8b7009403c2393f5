//! Finding the app binary that `fastkafka run APP` means: a path to a built binary, or
//! the name of a bin or example target in the current cargo workspace (built first).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

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
