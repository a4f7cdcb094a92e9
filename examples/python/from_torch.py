"""A model defined in PyTorch, exported to ONNX and scheduled in the same
script.

usage:
    pip install ./python torch onnx
    python examples/python/from_torch.py
"""

import os
import tempfile

import torch

import nnsched


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))

    def forward(self, x):
        return self.features(x)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.onnx")
        torch.onnx.export(Net().eval(), (torch.randn(1, 3, 64, 64),), path, dynamo=False,
                          input_names=["input"])
        net = nnsched.load_model(path, batch=8)
        s = nnsched.schedule(net, "tetris", hybrid_partition=True, solve_loopblocking=True)
    for layer in s.layers:
        print(f"{layer['name']:<14} {layer['type']:<6} {layer['cost'] / 1e6:10.2f} uJ")
    print(f"total {s.totals['cost'] / 1e9:.3f} mJ in {s.totals['time']:,} cycles")
    return s


if __name__ == "__main__":
    main()
