//! The one writer of BENCHMARKS.md: each benchmark owns the text between its pair of markers,
//! `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`, and nothing else.
//!
//! The prose around the sections (what is compared, how to read it) is written by people, so the
//! writer refuses to guess where a missing section should go rather than append it somewhere.

use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};

/// The start and end markers of section `name`.
fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- bench:{name}:start -->"),
        format!("<!-- bench:{name}:end -->"),
    )
}

/// Where section `name` lies in `text`: the byte offsets of its start marker and its end marker.
fn locate(text: &str, name: &str) -> Result<(usize, usize)> {
    let (start, end) = markers(name);
    let Some(a) = text.find(&start) else {
        bail!("no `{start}` marker: add the pair of markers around the section first");
    };
    let after = a + start.len();
    ensure!(
        !text[after..].contains(&start),
        "`{start}` appears more than once"
    );
    let Some(b) = text[after..].find(&end) else {
        bail!("no `{end}` after `{start}`");
    };
    Ok((a, after + b))
}

/// `text` with the body of section `name` replaced by `body` (one line break after the start
/// marker, one before the end marker); every byte outside the section is kept as it was.
pub fn replace(text: &str, name: &str, body: &str) -> Result<String> {
    let (start, _) = markers(name);
    let (a, b) = locate(text, name)?;
    Ok(format!(
        "{}{start}\n{}\n{}",
        &text[..a],
        body.trim_end_matches('\n'),
        &text[b..]
    ))
}

/// Fails unless `path` has the markers of every section in `names`; checked before a benchmark
/// runs, so that minutes of measurement are not lost to a missing marker at the end.
pub fn check(path: &Path, names: &[&str]) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    for name in names {
        locate(&text, name).with_context(|| path.display().to_string())?;
    }
    Ok(())
}

/// Replaces section `name` of the markdown file at `path` with `body`.
pub fn write(path: &Path, name: &str, body: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = replace(&text, name, body).with_context(|| path.display().to_string())?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Prints `report` and, given a file, writes it into that file's section `name`.
pub fn publish(file: Option<&Path>, name: &str, report: &str) -> Result<()> {
    println!("{report}");
    if let Some(path) = file {
        write(path, name, report)?;
        eprintln!("wrote section {name} of {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Benchmarks\n\nProse before.\n\n\
        <!-- bench:origin:start -->\nold origin table\n<!-- bench:origin:end -->\n\n\
        Reading, by hand.  Two spaces, a trailing one \n\n\
        <!-- bench:edge:start -->\nold edge\n\nold edge, second paragraph\n<!-- bench:edge:end -->\n\
        Prose after, no final line break";

    #[test]
    fn replaces_only_its_section_and_keeps_every_other_byte() {
        let new = replace(DOC, "edge", "| new | edge |\n").unwrap();
        assert_eq!(
            new,
            DOC.replace(
                "old edge\n\nold edge, second paragraph\n",
                "| new | edge |\n"
            )
        );
        let (a, b) = (
            DOC.find("<!-- bench:edge:start").unwrap(),
            DOC.find("<!-- bench:edge:end").unwrap(),
        );
        assert_eq!(new[..a], DOC[..a]);
        assert!(new.ends_with(&DOC[b..]));
    }

    #[test]
    fn the_body_gets_one_line_break_before_the_end_marker_whatever_it_ends_with() {
        let with = replace(DOC, "origin", "new\n").unwrap();
        assert_eq!(with, replace(DOC, "origin", "new").unwrap());
        assert_eq!(with, replace(DOC, "origin", "new\n\n").unwrap());
        assert!(with.contains("<!-- bench:origin:start -->\nnew\n<!-- bench:origin:end -->\n"));
    }

    #[test]
    fn writing_the_same_body_twice_changes_nothing() {
        let once = replace(DOC, "origin", "a\nb\n").unwrap();
        assert_eq!(replace(&once, "origin", "a\nb\n").unwrap(), once);
    }

    #[test]
    fn a_name_that_prefixes_another_finds_only_its_own_markers() {
        let doc = "<!-- bench:bots-opening:start -->\nx\n<!-- bench:bots-opening:end -->\n";
        assert!(replace(doc, "bots", "y").is_err());
    }

    #[test]
    fn refuses_without_markers() {
        let err = replace(DOC, "capture", "x").unwrap_err().to_string();
        assert!(err.contains("<!-- bench:capture:start -->"), "{err}");
        let no_end = DOC.replace("<!-- bench:edge:end -->", "");
        assert!(replace(&no_end, "edge", "x").is_err());
        let end_first = "<!-- bench:a:end -->\n<!-- bench:a:start -->\n";
        assert!(replace(end_first, "a", "x").is_err());
        let twice = format!("{DOC}\n<!-- bench:origin:start -->\n<!-- bench:origin:end -->\n");
        assert!(replace(&twice, "origin", "x").is_err());
    }

    #[test]
    fn check_and_write_work_on_the_file() {
        let path =
            std::env::temp_dir().join(format!("herdgate-bench-sections-{}.md", std::process::id()));
        std::fs::write(&path, DOC).unwrap();
        check(&path, &["origin", "edge"]).unwrap();
        assert!(check(&path, &["origin", "capture"]).is_err());
        write(&path, "origin", "new origin\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(text, replace(DOC, "origin", "new origin").unwrap());
        assert!(
            write(&path, "origin", "x").is_err(),
            "a missing file is an error"
        );
    }
}
