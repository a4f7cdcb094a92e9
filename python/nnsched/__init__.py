"""nnsched: energy-efficient dataflow schedules for neural networks on
Eyeriss-style accelerators, from Python.

>>> import nnsched
>>> net = nnsched.load_model("resnet50", batch=16)     # or an .onnx path
>>> hw = nnsched.Hardware.load("tetris")               # or Hardware.from_yaml(path)
>>> s = nnsched.schedule(net, hw, hybrid_partition=True, solve_loopblocking=True)
>>> s.totals["cost"], s.totals["time"]                 # pJ, cycles
>>> s.write("resnet50.json")                           # the file `nnsched -o` writes

Searches release the GIL (threads and process pools run them in
parallel); Ctrl-C raises ``Interrupted`` with the best partial schedule.
Every error is an ``nnsched.Error``.
"""

from ._nnsched import (
    Hardware,
    Network,
    Schedule,
    builtins,
    evaluate,
    load_model,
    schedule,
    stats,
)
from .errors import (
    DocumentError,
    Error,
    FileError,
    HardwareError,
    InternalError,
    Interrupted,
    ModelError,
    NoScheduleError,
    OptionsError,
    Stopped,
)



def _hardware(fields):
    """Unpickles a ``Hardware``."""
    return Hardware(**fields)


__all__ = [
    "DocumentError",
    "Error",
    "FileError",
    "Hardware",
    "HardwareError",
    "InternalError",
    "Interrupted",
    "ModelError",
    "Network",
    "NoScheduleError",
    "OptionsError",
    "Schedule",
    "Stopped",
    "builtins",
    "evaluate",
    "load_model",
    "schedule",
    "stats",
]
