//! The two services' modules form layers with no circle (see the `# Layout` sections of
//! `edge-worker/src/lib.rs` and `origin/src/lib.rs`): a module names, with a `crate::` path,
//! only itself and modules of the layers below its own. `crate::{..}` (which hides what it
//! names) and items of the crate root are refused too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers of `edge-worker/src`, top first, as its `lib.rs` documents them.
const EDGE: &[&[&str]] = &[
    &["routes"],
    &["pages"],
    &["api"],
    &["objects"],
    &["tokens", "origin", "payments"],
    &["cache"],
    &["http", "config", "webcrypto", "counters"],
];

/// The layers of `origin/src`, top first, as its `lib.rs` documents them.
const ORIGIN: &[&[&str]] = &[
    &["app"],
    &["routes"],
    &["extract"],
    &["state"],
    &["audit"],
    &["payments", "soldout", "timeline", "seats", "regions"],
    &["store", "metrics"],
    &["error", "config", "clock", "server"],
];

fn layer_of(layers: &[&[&str]], module: &str) -> Option<usize> {
    layers.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every module a source text names with a `crate::` path (`{a` for `crate::{a, ..}`).
fn named_modules(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '{')
                .collect::<String>()
        })
        .collect()
}

/// The files of the crate at `src` (relative to the repository) that name a module of their
/// own layer or one above it, with what they name. `lib.rs` (the crate root, above every
/// module) and `main.rs` (which names the library, not `crate::`) are not read.
fn naming_upwards(src: &str, layers: &[&[&str]]) -> BTreeMap<String, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10, "no sources found under {}", src.display());
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let own = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if own == "lib" || own == "main" {
            continue;
        }
        let own_layer = layer_of(layers, &own).unwrap_or_else(|| {
            panic!("{own} is in no layer: add it here and to the crate's # Layout")
        });
        let text = std::fs::read_to_string(&file).unwrap();
        for named in named_modules(&text) {
            let ok = named == own || layer_of(layers, &named).is_some_and(|l| l > own_layer);
            if !ok {
                wrong
                    .entry(rel.display().to_string())
                    .or_default()
                    .push(named);
            }
        }
    }
    wrong
}

#[test]
fn edge_modules_name_only_the_layers_below_their_own() {
    let wrong = naming_upwards("edge-worker/src", EDGE);
    assert!(
        wrong.is_empty(),
        "modules naming their own layer or one above it: {wrong:?}"
    );
}

#[test]
fn origin_modules_name_only_the_layers_below_their_own() {
    let wrong = naming_upwards("origin/src", ORIGIN);
    assert!(
        wrong.is_empty(),
        "modules naming their own layer or one above it: {wrong:?}"
    );
}

#[test]
fn the_layer_check_sees_a_circle() {
    assert_eq!(
        named_modules("use crate::routes::handle; crate::api::Ctx; use crate::{a, b};"),
        ["routes", "api", "{a"]
    );
    assert!(layer_of(EDGE, "routes") < layer_of(EDGE, "cache"));
    assert!(layer_of(ORIGIN, "app") < layer_of(ORIGIN, "store"));
    assert_eq!(layer_of(ORIGIN, "{a"), None);
}
