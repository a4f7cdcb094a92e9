//! What nnsched writes, as an adversarial or unlucky user meets it: every
//! writer goes through one function (`nnsched::files::write`), which
//! replaces only regular files, never follows a planted link, writes
//! devices in place, and on failure keeps the old file and leaves no
//! temporary; a stopped search never replaces a complete schedule; job
//! scripts take no path that could run as a command.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{bin, scratch};

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The folder's entries, sorted.
fn entries(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const SPEC: &str =
    "hardware: eyeriss\nmodels: [mlp_s]\naxes:\n  gbuf_bytes: [65536, 131072, 262144, 524288]\n";

/// Each writer of the command line: schedule, evaluate, plot, sweep.
fn writers(d: &Path) -> Vec<(&'static str, Vec<String>)> {
    let s = |p: &str| d.join(p).to_str().unwrap().to_string();
    std::fs::write(d.join("spec.yaml"), SPEC).unwrap();
    let good = s("good.json");
    assert!(
        run(&["mlp_s", "--hw", "eyeriss", "-q", "-o", &good])
            .status
            .success()
    );
    let own = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("schedule", own(&["mlp_s", "--hw", "eyeriss", "-q", "-o"])),
        (
            "evaluate",
            own(&["evaluate", &good, "--format", "json", "-o"]),
        ),
        ("plot", own(&["plot", &good, "-o"])),
        ("sweep", own(&["sweep", &s("spec.yaml"), "-q", "-o"])),
    ]
}

#[test]
fn devices_are_written_in_place_never_replaced() {
    let d = scratch("out-devices");
    for (what, mut args) in writers(&d) {
        args.push("/dev/null".into());
        let o = bin().args(&args).output().unwrap();
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        let meta = std::fs::symlink_metadata("/dev/null").unwrap();
        assert!(
            std::os::unix::fs::FileTypeExt::is_char_device(&meta.file_type()),
            "{what} replaced /dev/null"
        );
        args.pop();
        args.push("/dev/full".into());
        let o = bin().args(&args).output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {e}");
        assert!(
            e.contains("/dev/full: No space left on device"),
            "{what}: {e}"
        );
    }
}

#[test]
fn planted_links_and_directories_are_refused() {
    let d = scratch("out-links");
    let victim = d.join("victim.txt");
    for (what, mut args) in writers(&d) {
        std::fs::write(&victim, "precious").unwrap();
        let link = d.join(format!("{what}-link.out"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        args.push(link.to_str().unwrap().into());
        let o = bin().args(&args).output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {e}");
        assert!(e.contains("is a symbolic link"), "{what}: {e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        args.pop();
        let dir = d.join(format!("{what}-dir"));
        std::fs::create_dir_all(&dir).unwrap();
        args.push(dir.to_str().unwrap().into());
        let o = bin().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{what}");
        assert!(
            stderr(&o).contains("is a directory"),
            "{what}: {}",
            stderr(&o)
        );
        assert!(entries(&dir).is_empty(), "{what}");
    }
}

/// A file-size limit stands in for a full disk: each writer fails, and
/// the file it would have replaced is intact, with no temporary beside it.
#[test]
fn a_full_disk_keeps_the_old_file_and_leaves_no_temporary() {
    let d = scratch("out-full");
    for (what, args) in writers(&d) {
        // The old result: what the writer itself wrote.
        let target = d.join(format!("{what}.out"));
        let o = bin().args(&args).arg(&target).output().unwrap();
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        let old = std::fs::read(&target).unwrap();
        assert!(old.len() > 1024, "{what}");
        let before = entries(&d);
        // 1 KiB blocks: enough for nothing nnsched writes here; SIGXFSZ
        // ignored so that the write fails instead of killing the process.
        let o = Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 1; trap '' XFSZ; exec \"$@\"")
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_nnsched"))
            .args(&args)
            .arg(&target)
            .output()
            .unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {e}");
        assert!(e.contains("File too large"), "{what}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{what}: {e}");
        assert_eq!(std::fs::read(&target).unwrap(), old, "{what}");
        assert_eq!(entries(&d), before, "{what} left a temporary");
    }
}

/// A folder no one may add to (immutable, since root may write to a
/// read-only one): the write fails naming the file; the old one stays.
#[test]
fn a_read_only_folder_is_reported_and_left_alone() {
    let d = scratch("out-readonly");
    let ro = d.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let target = ro.join("s.json");
    std::fs::write(&target, "old").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = ro.join("probe");
    let writable = std::fs::write(&probe, "").is_ok();
    let _ = std::fs::remove_file(&probe);
    let immutable = writable
        && Command::new("chattr")
            .args(["+i", ro.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
    if writable && !immutable {
        eprintln!("skipped: the folder stays writable (root without chattr)");
        return;
    }
    let o = run(&[
        "mlp_s",
        "--hw",
        "eyeriss",
        "-q",
        "-o",
        target.to_str().unwrap(),
    ]);
    if immutable {
        let _ = Command::new("chattr")
            .args(["-i", ro.to_str().unwrap()])
            .status();
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.starts_with(&format!("nnsched: {}: ", target.display())),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
    assert_eq!(entries(&ro), ["s.json"]);
}

/// A search stopped by its time limit writes `NAME.partial.json` and says
/// so: the complete schedule already at `NAME.json` stays.
#[test]
fn a_partial_schedule_never_replaces_a_complete_one() {
    let d = scratch("out-partial");
    let out = d.join("s.json");
    let args = ["alex_net", "--hw", "tetris", "--batch", "8", "-q"];
    let o = bin()
        .args(args)
        .args(["-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let complete = std::fs::read(&out).unwrap();
    let o = bin()
        .args(args)
        .args(["--time-limit", "0.000001", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let partial = d.join("s.partial.json");
    assert!(
        e.contains(&format!(
            "the incomplete schedule is in {}",
            partial.display()
        )),
        "{e}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), complete);
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&partial).unwrap()).unwrap();
    assert!(
        p["incomplete"]["reason"]
            .as_str()
            .unwrap()
            .contains("time limit")
    );
}

#[test]
fn job_scripts_take_no_path_that_could_run() {
    let d = scratch("out-slurm");
    let spec = d.join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let spec = spec.to_str().unwrap();
    // `sweep slurm SPEC --tasks 2 -o OUT`, then any further flags.
    let slurm = |spec: &str, out: &Path, more: &[&str]| {
        bin()
            .args(["sweep", "slurm", spec, "--tasks", "2", "-o"])
            .arg(out)
            .args(more)
            .output()
            .unwrap()
    };
    for bad in [
        "r\ntouch PWNED\n.csv",
        "r'x.csv",
        "r\"x.csv",
        "r%j.csv",
        "r\\x.csv",
    ] {
        let out = d.join(bad);
        let o = slurm(spec, &out, &[]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {e}");
        assert!(e.contains("cannot be put in a job script"), "{bad:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    }
    assert!(!d.join("spec.sbatch").exists());
    // A path with a space is quoted in both the shell and the directive.
    let out = d.join("my results.csv");
    let o = slurm(spec, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = std::fs::read_to_string(d.join("spec.sbatch")).unwrap();
    let stem = d.join("my results");
    assert!(
        script.contains(&format!(
            "#SBATCH --output=\"{}.slurm-%A_%a.out\"",
            stem.display()
        )),
        "{script}"
    );
    assert!(
        script.contains(&format!(
            "-o '{}'.\"$SLURM_ARRAY_TASK_ID\".csv",
            stem.display()
        )),
        "{script}"
    );
    // The script never replaces the spec or the table it names.
    let named = d.join("sweep.sbatch");
    std::fs::write(&named, SPEC).unwrap();
    let o = slurm(named.to_str().unwrap(), &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("would replace the spec"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&named).unwrap(), SPEC);
    let o = slurm(spec, &out, &["--script", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("would replace the results table"),
        "{}",
        stderr(&o)
    );
}
