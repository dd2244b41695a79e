//! The Rust release the workspace declares and the one the container image builds with, checked
//! against what the locked dependencies need.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A `rust-version` as comparable numbers: "1.85" is 1.85.0.
type Release = (u64, u64, u64);

fn parse_release(text: &str) -> Release {
    let mut parts = text.split('.').map(|part| {
        part.parse()
            .unwrap_or_else(|_| panic!("not a Rust release: {text}"))
    });
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `cargo metadata` of the workspace as locked (every platform's dependencies).
fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// (name, version, rust-version) of every package; workspace members have no `source`.
fn declared_releases(
    metadata: &serde_json::Value,
    members: bool,
) -> Vec<(String, Option<Release>)> {
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|package| package["source"].is_null() == members)
        .map(|package| {
            let name = format!(
                "{} {}",
                package["name"].as_str().unwrap_or_default(),
                package["version"].as_str().unwrap_or_default()
            );
            (name, package["rust_version"].as_str().map(parse_release))
        })
        .collect()
}

/// The highest `rust-version` a locked dependency declares, with the dependency declaring it.
fn highest_dependency_release() -> (Release, String) {
    declared_releases(&metadata(), false)
        .into_iter()
        .filter_map(|(name, release)| Some((release?, name)))
        .max()
        .expect("some dependency declares a rust-version")
}

#[test]
fn every_member_declares_the_highest_rust_version_its_locked_dependencies_need() {
    let metadata = metadata();
    let (needed, by) = highest_dependency_release();
    for (member, declared) in declared_releases(&metadata, true) {
        assert_eq!(
            declared,
            Some(needed),
            "{member}: rust-version should be {needed:?}, the highest a locked dependency declares ({by}); \
             set [workspace.package] rust-version and `rust-version.workspace = true`"
        );
    }
}

#[test]
fn the_image_builder_is_a_specific_rust_release_at_or_above_rust_version() {
    let dockerfile =
        std::fs::read_to_string(workspace_root().join("Dockerfile")).expect("Dockerfile");
    let pinned = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ARG RUST_VERSION="))
        .expect("the Dockerfile declares ARG RUST_VERSION=<release>");
    assert_eq!(
        pinned.split('.').count(),
        3,
        "the builder must be one specific release (major.minor.patch), not {pinned}"
    );
    assert!(
        dockerfile.contains("FROM rust:${RUST_VERSION}-"),
        "the build stage must use the pinned RUST_VERSION"
    );
    let (needed, by) = highest_dependency_release();
    assert!(
        parse_release(pinned) >= needed,
        "the Dockerfile's Rust {pinned} is below {needed:?}, which {by} needs"
    );
}
