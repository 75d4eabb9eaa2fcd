//! Every route the stand-in serves exists in Atlassian's reference OpenAPI documents with the
//! same method and path template.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

fn reference_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for up in here.ancestors() {
        let p = up.join("shared/reference/atlassian-openapi");
        if p.is_dir() {
            return p;
        }
        let p = up.join("../shared/reference/atlassian-openapi");
        if p.is_dir() {
            return p;
        }
    }
    panic!(
        "shared/reference/atlassian-openapi not found above {}",
        here.display()
    );
}

/// Normalise parameter names: `{issueIdOrKey}` and `{id}` both become `{}`, as templates are
/// compared by shape; the names themselves are checked separately.
fn shape(p: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '{' => {
                depth += 1;
                out.push('{');
            }
            '}' => {
                depth -= 1;
                out.push('}');
            }
            _ if depth > 0 => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn every_route_is_in_the_reference() {
    let dir = reference_dir();
    let mut docs: HashMap<&str, Value> = HashMap::new();
    let mut failures = vec![];
    let routes = cairn_sitesim::routes::routes();
    for r in &routes {
        let Some(file) = r.reference_file() else {
            // `/_edge/tenant_info` is not part of the REST APIs; Atlassian serves it on every site.
            assert_eq!(r.path, "/_edge/tenant_info");
            continue;
        };
        let doc = docs.entry(file).or_insert_with(|| {
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
        });
        let path = r.reference_path();
        let method = r.method.as_str().to_ascii_lowercase();
        match doc["paths"].get(path) {
            Some(item) if item.get(&method).is_some() => {}
            Some(_) => failures.push(format!(
                "{} {} : path exists in {file} but not with method {}",
                r.method, r.path, r.method
            )),
            None => {
                let near: Vec<&String> = doc["paths"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| shape(k) == shape(path))
                    .collect();
                failures.push(format!(
                    "{} {} : no path {path} in {file} (same shape: {near:?})",
                    r.method, r.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "routes not in the reference documents:\n{}",
        failures.join("\n")
    );
    // no duplicate method + path
    let mut seen = std::collections::HashSet::new();
    for r in &routes {
        assert!(
            seen.insert((r.method.clone(), r.path)),
            "duplicate route {} {}",
            r.method,
            r.path
        );
    }
    assert!(
        routes.len() > 80,
        "expected the full table, got {}",
        routes.len()
    );
}
