//! Replays the fuzzers' corpora (`fuzz/corpus/<target>/`, committed after
//! `cargo fuzz` runs): no input may panic, and each rejection is one
//! non-empty line, as the command line prints it.

use std::path::PathBuf;

fn replay(target: &str, f: fn(&[u8]) -> Result<(), String>) -> (usize, usize) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut ok, mut rejected) = (0, 0);
    for p in &files {
        let data = std::fs::read(p).unwrap();
        match std::panic::catch_unwind(|| f(&data)) {
            Err(_) => panic!("{}: panics", p.display()),
            Ok(Ok(())) => ok += 1,
            Ok(Err(m)) => {
                assert!(!m.trim().is_empty(), "{}: empty message", p.display());
                assert_eq!(m.trim_end().lines().count(), 1, "{}: {m}", p.display());
                rejected += 1;
            }
        }
    }
    (ok, rejected)
}

#[test]
fn hw_yaml_corpus() {
    let (ok, rejected) = replay("hw_yaml", nnsched::fuzz::hw_yaml);
    assert!(ok >= 4, "the shipped hardware files load");
    assert!(ok + rejected >= 4);
}

#[test]
fn schedule_file_corpus() {
    let (ok, _) = replay("schedule_file", nnsched::fuzz::schedule_file);
    assert!(ok >= 3, "the seed schedules evaluate");
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_model_corpus() {
    let (ok, _) = replay("onnx_model", nnsched::fuzz::onnx_model);
    assert!(ok >= 4, "the seed models import");
}
