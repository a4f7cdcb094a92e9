//! A sweep on a real Slurm cluster: `nnsched sweep slurm --submit` runs a
//! 4-task job array, whose shard tables merge into the unsharded run's
//! table. Needs a running cluster (`scripts/slurm-up.sh`, as `.ci/run`
//! starts one) and `NNSCHED_SLURM=1`; without it the test says so and
//! passes.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{bin, scratch, sweep_results};

const SPEC: &str = "\
hardware: tetris
models: [alex_net, mlp_m]
batch: [4]
axes:
  gbuf_bytes: [32768, 131072]
  pe_array: [[8, 8], [16, 16]]
options:
  hybrid: {hybrid_partition: true, solve_loopblocking: true}
";

/// Job states of every task of `job`, once none is still active.
fn wait_for(job: &str, timeout: Duration) -> Vec<String> {
    let active = [
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    ];
    let start = Instant::now();
    loop {
        let out = Command::new("scontrol")
            .args(["-o", "show", "job", job])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scontrol: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let states: Vec<String> = text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("JobState="))
            .map(str::to_string)
            .collect();
        if !states
            .iter()
            .any(|s| active.contains(&s.as_str()) || s.starts_with("REQUEUE"))
        {
            return states;
        }
        assert!(start.elapsed() < timeout, "job {job} still active: {text}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_job_array_merges_into_the_unsharded_table() {
    if std::env::var("NNSCHED_SLURM").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set NNSCHED_SLURM=1 with a running Slurm cluster (scripts/slurm-up.sh)"
        );
        return;
    }
    let d = scratch("slurm");
    let spec = d.join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let full = d.join("full.csv");
    assert!(
        bin()
            .arg("sweep")
            .arg(&spec)
            .arg("-o")
            .arg(&full)
            .status()
            .unwrap()
            .success()
    );

    let all = d.join("all.csv");
    let out = bin()
        .current_dir(&d)
        .args(["sweep", "slurm"])
        .arg(&spec)
        .args(["--tasks", "4", "--submit", "-o"])
        .arg(&all)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(job.parse::<u64>().is_ok(), "a job id: {job}");
    let states = wait_for(&job, Duration::from_secs(900));
    assert_eq!(states.len(), 4, "{states:?}");
    assert!(states.iter().all(|s| s == "COMPLETED"), "{states:?}");

    let shards: Vec<_> = (0..4).map(|i| d.join(format!("all.{i}.csv"))).collect();
    let merged = d.join("merged.csv");
    let out = bin()
        .args(["sweep", "merge"])
        .args(&shards)
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sweep_results(&merged), sweep_results(&full));
    assert_eq!(sweep_results(&merged).rows.len(), 8);
}
