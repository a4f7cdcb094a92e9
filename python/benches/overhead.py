"""The Python call's cost over the command line's search: ResNet-50
(batch 16) on TETRIS with hybrid partitioning and the solver. The CLI's
search time is the one `-v` reports (the search alone, as the library runs
it); the Python time is `nnsched.schedule` around the same search. Best of
N runs each.

usage (from the repository root, with the package installed):
    python python/benches/overhead.py [RUNS]
"""

import os
import re
import subprocess
import sys
import time

import nnsched

BIN = os.environ.get("NNSCHED_BIN", "target/release/nnsched")
ARGS = ["models/resnet50.onnx", "--hw", "tetris", "--batch", "16", "--hybrid-partition",
        "--solve-loopblocking"]


def cli_search_seconds():
    err = subprocess.run([BIN, *ARGS, "-v", "-q"], capture_output=True, text=True,
                         check=True).stderr
    return float(re.search(r"in ([0-9.]+) s", err).group(1))


def python_seconds(net, hw):
    t = time.perf_counter()
    nnsched.schedule(net, hw, hybrid_partition=True, solve_loopblocking=True)
    return time.perf_counter() - t


def main(runs):
    net = nnsched.load_model("models/resnet50.onnx", batch=16)
    hw = nnsched.Hardware.load("tetris")
    cli = min(cli_search_seconds() for _ in range(runs))
    py = min(python_seconds(net, hw) for _ in range(runs))
    print(f"CLI search {cli * 1e3:.1f} ms, Python schedule() {py * 1e3:.1f} ms: "
          f"{(py / cli - 1) * 100:+.1f}% (best of {runs})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
