//! The edge worker's modules form layers with no circle (see the `# Layout` section of
//! `edge-worker/src/lib.rs`): a module names, with a `crate::` path, only itself and modules of
//! the layers below its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers of `edge-worker/src`, top first, as `lib.rs` documents them.
const LAYERS: &[&[&str]] = &[
    &["routes"],
    &["pages"],
    &["api"],
    &["objects"],
    &["tokens", "origin", "payments"],
    &["cache"],
    &["http", "config"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
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

/// Every `crate::<module>` a source text names.
fn named_modules(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn edge_modules_name_only_the_layers_below_their_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge-worker/src");
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
        if own == "lib" {
            continue;
        }
        let own_layer = layer_of(&own)
            .unwrap_or_else(|| panic!("{own} is in no layer: add it to LAYERS and to lib.rs"));
        let text = std::fs::read_to_string(&file).unwrap();
        for named in named_modules(&text) {
            let ok = named == own
                || layer_of(&named).is_some_and(|l| l > own_layer)
                // Macros and generated code name the crate root's items.
                || layer_of(&named).is_none() && !file_defines_module(&src, &named);
            if !ok {
                wrong
                    .entry(rel.display().to_string())
                    .or_default()
                    .push(named);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "modules naming their own layer or one above it: {wrong:?}"
    );
}

/// Whether `name` is a module of the crate (a file or a folder under `src`).
fn file_defines_module(src: &Path, name: &str) -> bool {
    src.join(format!("{name}.rs")).exists() || src.join(name).is_dir()
}

#[test]
fn the_layer_check_sees_a_circle() {
    // The same reading, on a text that names a module above its own.
    assert_eq!(
        named_modules("use crate::routes::handle; crate::api::Ctx"),
        ["routes", "api"]
    );
    assert!(layer_of("routes") < layer_of("cache"));
}
