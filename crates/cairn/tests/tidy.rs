//! Tidy checks over the workspace itself: dependencies between Cairn's crates point one way
//! (ARCHITECTURE.md), and every crate says what it is.

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
    out
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
        let deps = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .cloned()
            .unwrap_or_default();
        for dep in deps.keys().filter(|d| d.starts_with("cairn")) {
            assert!(
                allowed.contains(&dep.as_str()),
                "{name} must not depend on {dep} (see ARCHITECTURE.md)"
            );
        }
    }
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
