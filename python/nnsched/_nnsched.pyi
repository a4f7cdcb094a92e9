"""Type stubs of the compiled core (see the docstrings for details)."""

import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]

class Network:
    @property
    def name(self) -> str: ...
    @property
    def batch(self) -> int: ...
    @property
    def skipped(self) -> List[str]: ...
    @property
    def layers(self) -> List[Dict[str, Any]]: ...
    def __len__(self) -> int: ...

class Hardware:
    def __init__(
        self,
        *,
        name: str = ...,
        word_bits: int = ...,
        nodes: Sequence[int] = ...,
        pe_array: Sequence[int] = ...,
        regf_bytes: int = ...,
        gbuf_bytes: int = ...,
        memory: Literal["2d", "3d"] = ...,
        array_bus_bits: int = ...,
        dram_bandwidth: Union[float, str] = ...,
        energy: Mapping[str, float] = ...,
    ) -> None: ...
    @staticmethod
    def from_yaml(path: _Path) -> "Hardware": ...
    @staticmethod
    def load(name_or_path: _Path) -> "Hardware": ...
    def replace(self, **fields: Any) -> "Hardware": ...
    def to_dict(self) -> Dict[str, Any]: ...
    @property
    def name(self) -> str: ...

class Schedule:
    def to_json(self) -> str: ...
    def differences(self, recomputed: "Schedule") -> List[str]: ...
    def to_yaml(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def write(self, path: _Path) -> None: ...
    def to_pandas(self) -> Any: ...
    @staticmethod
    def read(path: _Path) -> "Schedule": ...
    @staticmethod
    def from_json(text: str) -> "Schedule": ...
    @property
    def totals(self) -> Dict[str, Any]: ...
    @property
    def layers(self) -> List[Dict[str, Any]]: ...
    @property
    def segments(self) -> List[Dict[str, Any]]: ...
    @property
    def network(self) -> str: ...
    @property
    def batch(self) -> int: ...

def load_model(
    model: _Path,
    batch: Optional[int] = None,
    dims: Optional[Mapping[str, int]] = None,
    skip_unsupported: bool = False,
    max_tensor_elements: Optional[int] = None,
) -> Network: ...
def schedule(
    network: Network,
    hw: Union[Hardware, _Path],
    *,
    goal: Literal["e", "d", "ed"] = "e",
    top: int = 1,
    batch: Optional[int] = None,
    disable_bypass: Optional[Sequence[Literal["i", "o", "f"]]] = None,
    solve_loopblocking: bool = False,
    hybrid_partition: bool = False,
    batch_partition: bool = False,
    ifmaps_partition: bool = False,
    enable_access_forwarding: bool = False,
    enable_gbuf_sharing: bool = False,
    interlayer_partition: bool = False,
    enable_save_writeback: bool = False,
    layer_pipeline_time_overhead: Optional[float] = None,
    layer_pipeline_max_degree: Optional[float] = None,
    disable_interlayer_opt: bool = False,
    nn_dataflow: bool = False,
    search: Optional[Literal["frontier", "beam"]] = None,
    time_limit: Optional[float] = None,
    threads: Optional[int] = None,
) -> Schedule: ...
def evaluate(
    doc: Union[Schedule, _Path],
    hw: Union[Hardware, _Path, None] = None,
    model: Union[Network, _Path, None] = None,
) -> Schedule: ...
def stats(network: Network, word_bits: int = 16) -> List[Dict[str, Any]]: ...
def builtins() -> Tuple[List[str], List[str]]: ...
