//! `herdgate-draw verify` on records written to a file: a true one holds, and every kind of
//! alteration is reported with exit status 1.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use herdgate_core::draw::{entry_digest, DrawRecord, Entry};

/// A record of `counts[k]` entries at shard `k`, visitors `v-k-j`, with their places.
fn record(counts: &[usize]) -> DrawRecord {
    let shards = counts
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (0..*n)
                .map(|j| (entry_digest(&format!("v-{k}-{j}")), 1_000 + j as u64))
                .collect()
        })
        .collect();
    DrawRecord::assemble("cli-sale", &[42u8; 32], 1_000_000, shards)
}

/// Runs `herdgate-draw verify --file <record> extra…`: exit code and stdout.
fn verify(record: &DrawRecord, extra: &[&str]) -> (i32, String) {
    let path = std::env::temp_dir().join(format!(
        "herdgate-draw-{}-{}.json",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&path, serde_json::to_string(record).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_herdgate-draw"))
        .arg("verify")
        .arg("--file")
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_true_record_holds_and_a_buyer_finds_their_place() {
    let r = record(&[3, 5, 4]);
    let (code, out) = verify(&r, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("12 entries over 3 shards"), "{out}");
    let place = r.shards[1].entries[2].place.unwrap().to_string();
    let (code, out) = verify(&r, &["--visitor", "v-1-2", "--place", &place]);
    assert_eq!(code, 0, "{out}");
    let wrong = ((r.shards[1].entries[2].place.unwrap() + 1) % 12).to_string();
    let (code, out) = verify(&r, &["--visitor", "v-1-2", "--place", &wrong]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = verify(&r, &["--visitor", "somebody-else"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = verify(&r, &["--commitment", &r.commitment.to_uppercase()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(&r, &["--commitment", &"ab".repeat(32)]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn an_altered_record_fails() {
    let good = record(&[3, 5, 4]);
    let mut swapped = good.clone();
    let p = swapped.shards[0].entries[0].place;
    swapped.shards[0].entries[0].place = swapped.shards[1].entries[0].place;
    swapped.shards[1].entries[0].place = p;
    let mut added = good.clone();
    added.shards[2].entries.push(Entry {
        digest: entry_digest("inserted"),
        at_ms: 9_999,
        place: Some(0),
    });
    added.shards[2].tally.count += 1;
    let mut reseeded = good.clone();
    reseeded.seed = "00".repeat(32);
    for (what, r) in [
        ("swapped", swapped),
        ("added", added),
        ("reseeded", reseeded),
    ] {
        let (code, out) = verify(&r, &[]);
        assert_eq!(code, 1, "{what}: {out}");
        assert!(out.starts_with("FAILED"), "{what}: {out}");
    }
}

#[test]
fn an_unreadable_record_is_exit_status_2() {
    let path = std::env::temp_dir().join(format!("herdgate-draw-bad-{}.json", std::process::id()));
    std::fs::write(&path, "not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_herdgate-draw"))
        .args(["verify", "--file"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(2));
}
