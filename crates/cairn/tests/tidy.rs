//! Tidy checks over the workspace itself: dependencies between Cairn's crates point one way
//! (ARCHITECTURE.md), only `cairn` uses anyhow, and every crate says what it is.

use std::collections::BTreeMap;
use std::path::Path;

/// Which Cairn crates each crate may depend on (normal dependencies, not dev-dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("cairn-vault", &[]),
    ("cairn-sitesim", &[]),
    // Only a dev-dependency on cairn-sitesim (its tests run against the stand-in).
    ("cairn-connectors", &[]),
    ("cairn-store", &[]),
    ("cairn-control", &["cairn-store"]),
    ("cairn-api", &["cairn-control", "cairn-store"]),
    // cairn-sitesim only as a dev-dependency.
    (
        "cairn-engine",
        &[
            "cairn-control",
            "cairn-store",
            "cairn-connectors",
            "cairn-vault",
        ],
    ),
    (
        "cairn",
        &[
            "cairn-api",
            "cairn-control",
            "cairn-store",
            "cairn-vault",
            "cairn-sitesim",
            "cairn-connectors",
            "cairn-engine",
        ],
    ),
];

/// The manifest of every crate under `crates/`, by package name. Fails unless it finds every
/// crate of [`ALLOWED`], so a moved directory cannot make the checks pass on nothing.
fn manifests() -> BTreeMap<String, toml::Table> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(crates).unwrap() {
        let path = entry.unwrap().path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let table: toml::Table = text.parse().unwrap();
            let name = table["package"]["name"].as_str().unwrap().to_string();
            out.insert(name, table);
        }
    }
    for (name, _) in ALLOWED {
        assert!(
            out.contains_key(*name),
            "no manifest of {name} under {}",
            crates.display()
        );
    }
    out
}

/// A manifest's normal dependencies: `(name in the manifest, package)`.
fn dependencies(manifest: &toml::Table) -> Vec<(String, String)> {
    let Some(deps) = manifest.get("dependencies").and_then(|d| d.as_table()) else {
        return Vec::new();
    };
    deps.iter()
        .map(|(name, spec)| {
            let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(name);
            (name.clone(), package.to_string())
        })
        .collect()
}

#[test]
fn crate_dependencies_point_one_way() {
    let manifests = manifests();
    for (name, manifest) in &manifests {
        let allowed = ALLOWED
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| {
                panic!("{name} is a new crate: add it to ALLOWED here and to ARCHITECTURE.md")
            })
            .1;
        for (_, dep) in dependencies(manifest) {
            if dep.starts_with("cairn") {
                assert!(
                    allowed.contains(&dep.as_str()),
                    "{name} must not depend on {dep} (see ARCHITECTURE.md)"
                );
            }
        }
    }
}

/// ARCHITECTURE.md: `cairn` is the only crate that uses anyhow; the libraries return their own
/// error types.
#[test]
fn only_the_binary_depends_on_anyhow() {
    let users: Vec<String> = manifests()
        .iter()
        .filter(|(name, _)| name.as_str() != "cairn")
        .filter(|(_, manifest)| dependencies(manifest).iter().any(|(_, p)| p == "anyhow"))
        .map(|(name, _)| name.clone())
        .collect();
    assert!(
        users.is_empty(),
        "only cairn may depend on anyhow (see ARCHITECTURE.md): {users:?}"
    );
}

#[test]
fn every_crate_has_a_description_and_is_documented_in_architecture_md() {
    let architecture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md"),
    )
    .unwrap();
    for (name, manifest) in manifests() {
        assert!(
            manifest["package"].get("description").is_some(),
            "{name} has no description"
        );
        assert!(
            architecture.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not mention `{name}`"
        );
    }
}
