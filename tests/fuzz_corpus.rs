//! Replays the fuzzers' inputs: the hand-made seeds (`fuzz/seeds/<target>/`,
//! valid inputs that must be accepted) and the corpus the fuzzers grew from
//! them (`fuzz/corpus/<target>/`, minimized with `cargo fuzz cmin`). No
//! input may panic, and each rejection is one non-empty line, as the
//! command line prints it.

use std::path::PathBuf;

type Entry = fn(&[u8]) -> Result<(), String>;

/// Runs `f` on every file of `fuzz/<dir>/<target>`: (accepted, rejected).
fn replay(dir: &str, target: &str, f: Entry) -> (usize, usize) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
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

fn check(target: &str, f: Entry) {
    let (ok, rejected) = replay("seeds", target, f);
    assert!(ok > 0 && rejected == 0, "{target}: every seed is valid");
    let (ok, rejected) = replay("corpus", target, f);
    // The fuzzers found both kinds; a corpus of one kind lost its point.
    assert!(
        ok > 0 && rejected > 0,
        "{target}: {ok} accepted, {rejected} rejected"
    );
}

#[test]
fn hw_yaml_inputs() {
    check("hw_yaml", nnsched::fuzz::hw_yaml);
}

#[test]
fn schedule_file_inputs() {
    check("schedule_file", nnsched::fuzz::schedule_file);
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_model_inputs() {
    check("onnx_model", nnsched::fuzz::onnx_model);
}
