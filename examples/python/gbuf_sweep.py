"""Energy of ResNet-50 (batch 16) on TETRIS as the global buffer grows:
one search per size, in parallel threads (the searches release the GIL),
plotted with matplotlib.

usage (from the repository root):
    pip install ./python matplotlib
    python examples/python/gbuf_sweep.py [OUT.png]
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import nnsched

SIZES_KB = [32, 64, 128, 256, 512, 1024]


def sweep(model="models/resnet50.onnx", batch=16, sizes_kb=SIZES_KB):
    """(size in kB, energy in mJ, time in cycles) per global buffer size."""
    net = nnsched.load_model(model, batch=batch)
    base = nnsched.Hardware.load("tetris")

    def point(kb):
        hw = base.replace(gbuf_bytes=kb * 1024)
        s = nnsched.schedule(net, hw, hybrid_partition=True, solve_loopblocking=True, threads=1)
        return kb, s.totals["cost"] / 1e9, s.totals["time"]

    with ThreadPoolExecutor() as pool:
        return list(pool.map(point, sizes_kb))


def plot(points, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kb, mj, _ = zip(*points)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(kb, mj, marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("global buffer per node (kB)")
    ax.set_ylabel("energy (mJ)")
    ax.set_title("ResNet-50, batch 16, TETRIS")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    points = sweep()
    for kb, mj, cycles in points:
        print(f"{kb:5d} kB  {mj:8.2f} mJ  {cycles:>12,} cycles")
    plot(points, sys.argv[1] if len(sys.argv) > 1 else "gbuf_sweep.png")
