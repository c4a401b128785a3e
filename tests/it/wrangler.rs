//! `wrangler.toml` and the worker's configuration agree: every `[vars]` entry is a name the
//! worker reads (a typo there would be ignored silently, the default taking its place), and
//! every name the worker reads is documented in `wrangler.toml`. And a deployment has no
//! `*.workers.dev` address unless the deployer turns it on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The names set in the `[vars]` table.
fn wrangler_vars(toml: &str) -> BTreeSet<String> {
    toml.lines()
        .map(str::trim)
        .skip_while(|l| *l != "[vars]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.is_empty())
        .collect()
}

/// The names the worker reads with `var("NAME")`.
fn names_read(config_rs: &str) -> BTreeSet<String> {
    config_rs
        .match_indices("var(\"")
        .map(|(i, m)| {
            config_rs[i + m.len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect()
        })
        .collect()
}

/// The `name = value` settings before the first table, values as written.
fn top_level(toml: &str) -> BTreeMap<String, String> {
    toml.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn a_deployment_answers_only_on_its_own_routes_by_default() {
    // A workers.dev address would serve the waiting room outside the shop's zone (its HTTPS,
    // WAF and rate-limit settings) and as a second site for the buyers' cookies and forms.
    let top = top_level(&read("../wrangler.toml"));
    assert_eq!(
        top.get("workers_dev").map(String::as_str),
        Some("false"),
        "{top:?}"
    );
    assert_eq!(
        top.get("preview_urls").map(String::as_str),
        Some("false"),
        "{top:?}"
    );
}

#[test]
fn every_wrangler_var_is_read_by_the_worker_and_every_read_is_documented() {
    let toml = read("../wrangler.toml");
    let config = read("../edge-worker/src/config.rs");
    let vars = wrangler_vars(&toml);
    let read_names = names_read(&config);
    assert!(
        vars.len() > 10 && read_names.len() > 10,
        "{vars:?} {read_names:?}"
    );

    let unread: Vec<_> = vars.difference(&read_names).collect();
    assert!(
        unread.is_empty(),
        "[vars] the worker never reads: {unread:?}"
    );
    let undocumented: Vec<_> = read_names
        .iter()
        .filter(|name| !toml.contains(name.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "vars the worker reads that wrangler.toml does not mention: {undocumented:?}"
    );
}

#[test]
fn the_vars_reader_sees_a_typo() {
    let toml = "[vars]\n# c\nPOLL_MIN_MS = \"1\"\nPOL_MAX_MS = \"2\"\n\n[[durable_objects.bindings]]\nX = 1\n";
    let vars = wrangler_vars(toml);
    assert_eq!(
        vars,
        BTreeSet::from(["POLL_MIN_MS".into(), "POL_MAX_MS".into()])
    );
    let read = names_read("num(var(\"POLL_MIN_MS\"), ..); var(\"POLL_MAX_MS\")");
    assert_eq!(vars.difference(&read).count(), 1);
}
