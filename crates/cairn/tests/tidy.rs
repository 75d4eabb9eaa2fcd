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

/// Each crate's layer, as ARCHITECTURE.md states it, by the outside crates it may not use:
/// the domain never speaks HTTP or touches backup bytes; the store knows SQL and nothing of HTTP.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "cairn-control",
        &["axum", "hyper", "http", "reqwest", "object_store", "sqlx"],
    ),
    (
        "cairn-store",
        &["axum", "hyper", "http", "reqwest", "object_store"],
    ),
];

#[test]
fn crates_keep_to_their_layer() {
    let manifests = manifests();
    for (name, forbidden) in FORBIDDEN {
        let manifest = manifests
            .get(*name)
            .unwrap_or_else(|| panic!("{name} has no manifest"));
        for (_, dep) in dependencies(manifest) {
            assert!(
                !forbidden.contains(&dep.as_str()),
                "{name} must not depend on {dep} (see ARCHITECTURE.md)"
            );
        }
    }
}

/// ARCHITECTURE.md: `cairn` is the only crate that prints; the libraries log through `tracing`
/// (throw-away test databases behind the store's `testing` feature excepted).
#[test]
fn only_the_binary_prints() {
    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut printing = Vec::new();
    for name in manifests().keys().filter(|n| n.as_str() != "cairn") {
        let mut files = Vec::new();
        rust_files(&crates.join(name).join("src"), &mut files);
        assert!(!files.is_empty(), "{name} has no sources under src/");
        for file in files.iter().filter(|f| !f.ends_with("testing.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            if ["println!(", "eprintln!(", "print!(", "eprint!(", "dbg!("]
                .iter()
                .any(|m| text.contains(m))
            {
                printing.push(file.display().to_string());
            }
        }
    }
    assert!(
        printing.is_empty(),
        "only cairn prints (see ARCHITECTURE.md): {printing:?}"
    );
}
