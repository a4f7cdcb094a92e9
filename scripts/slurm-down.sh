#!/bin/sh
# Stops the daemons slurm-up.sh started, by the PIDs in their PID files.
for f in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || continue
  # Up to 10 s for it to exit (a zombie counts as exited).
  for i in $(seq 100); do
    st=$(ps -o stat= -p "$pid" 2>/dev/null) || break
    case "$st" in Z*) break;; esac
    sleep 0.1
  done
done
