"""The Python package against the command line and the library's own
checks: same files byte for byte, every exception from a real bad input,
the GIL released during searches, Ctrl-C returning the partial schedule."""

import _thread
import inspect
import json
import os
import pathlib
import re
import subprocess
import threading
import time

import pytest

import nnsched

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("NNSCHED_BIN", str(ROOT / "target" / "release" / "nnsched"))
RESNET = "models/resnet50.onnx"


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    # Model names are recorded as given: run where the CLI runs.
    monkeypatch.chdir(ROOT)


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    "model, batch, hw, flags, kwargs",
    [
        (RESNET, 16, "tetris", ["--hybrid-partition", "--solve-loopblocking", "--nn-dataflow"],
         dict(hybrid_partition=True, solve_loopblocking=True, nn_dataflow=True)),
        ("alex_net", 8, "hw/tangram.yaml",
         ["--goal", "ed", "--top", "2", "--disable-bypass", "i", "f", "--hybrid-partition",
          "--batch-partition", "--interlayer-partition", "--enable-save-writeback",
          "--layer-pipeline-time-overhead", "0.5", "--search", "beam"],
         dict(goal="ed", top=2, disable_bypass=["i", "f"], hybrid_partition=True,
              batch_partition=True, interlayer_partition=True, enable_save_writeback=True,
              layer_pipeline_time_overhead=0.5, search="beam")),
    ],
)
def test_the_schedule_file_is_the_command_lines(tmp_path, model, batch, hw, flags, kwargs):
    cli_file, py_file = tmp_path / "cli.json", tmp_path / "py.json"
    cli(model, "--hw", hw, "--batch", str(batch), *flags, "-q", "-o", str(cli_file))
    net = nnsched.load_model(model, batch=batch)
    s = nnsched.schedule(net, hw, **kwargs)
    s.write(py_file)
    assert py_file.read_bytes() == cli_file.read_bytes()
    assert s.to_json() == cli_file.read_text()
    assert s.to_dict() == json.loads(cli_file.read_text())
    assert s.totals == s.to_dict()["totals"] and len(s.layers) == len(net)
    # Evaluated again, from the object and from the file: the same document.
    assert nnsched.evaluate(s) == s
    assert nnsched.evaluate(cli_file).to_json() == s.to_json()
    assert nnsched.Schedule.read(cli_file) == s


def test_every_search_flag_is_a_keyword():
    flags = {f.replace("-", "_") for f in re.findall(r"^\s+(?:-\w, )?--([a-z-]+)", cli("--help"), re.M)}
    not_search = {"hw", "batch", "skip_unsupported", "max_tensor_elements", "dim", "output",
                  "format", "verbose", "quiet", "help", "version"}
    params = set(inspect.signature(nnsched.schedule).parameters)
    assert flags - not_search <= params, flags - not_search - params
    assert {"skip_unsupported", "max_tensor_elements", "dims", "batch"} <= set(
        inspect.signature(nnsched.load_model).parameters)


def test_threads_do_not_change_the_result():
    net = nnsched.load_model("alex_net", batch=16)
    one = nnsched.schedule(net, "tetris", hybrid_partition=True, threads=1)
    two = nnsched.schedule(net, "tetris", hybrid_partition=True, threads=2)
    assert one.to_json() == two.to_json()


def test_networks_and_stats_match_the_command_line():
    net = nnsched.load_model(RESNET, batch=4)
    assert (net.name, net.batch, len(net)) == (RESNET, 4, 72)
    conv1 = net.layers[0]
    assert (conv1["name"], conv1["type"], conv1["nofm"], conv1["ofmap"]) == (
        "conv1", "conv", 64, (112, 112))
    rows = json.loads(cli("stats", RESNET, "--batch", "4", "--format", "json"))["layers"]
    assert nnsched.stats(net) == rows
    assert sum(l["macs"] for l in net.layers) == sum(r["macs"] for r in rows)
    phi = nnsched.load_model("models/phi_tiny.onnx", dims={"sequence": 64})
    assert sum(l["macs"] for l in phi.layers if l["type"] in ("conv", "matmul")) == 104_857_600


def test_hardware_from_fields_yaml_and_replace(tmp_path):
    tetris = nnsched.Hardware.from_yaml(ROOT / "hw" / "tetris.yaml")
    assert tetris.to_dict() == nnsched.Hardware.load("tetris").to_dict()
    again = nnsched.Hardware(**tetris.to_dict())
    assert again.to_dict() == tetris.to_dict()
    dram = tetris.to_dict()["energy"]["dram"]
    cheap = tetris.replace(gbuf_bytes=2 * tetris.to_dict()["gbuf_bytes"], energy={"dram": dram / 2})
    d = cheap.to_dict()
    assert d["gbuf_bytes"] == 2 * tetris.to_dict()["gbuf_bytes"]
    assert d["energy"]["dram"] == dram / 2 and d["energy"]["mac"] == tetris.to_dict()["energy"]["mac"]
    net = nnsched.load_model("alex_net", batch=4)
    assert nnsched.schedule(net, cheap).totals["cost"] < nnsched.schedule(net, tetris).totals["cost"]


def test_each_error_comes_from_a_real_bad_input(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(nnsched.ModelError, match="bad.onnx"):
        nnsched.load_model(bad)
    with pytest.raises(nnsched.ModelError, match="unknown model 'resnet5'"):
        nnsched.load_model("resnet5")

    tetris = nnsched.Hardware.load("tetris")
    with pytest.raises(nnsched.HardwareError, match="gbuf_bytes"):
        tetris.replace(gbuf_bytes=-1)
    with pytest.raises(nnsched.HardwareError, match="nodess"):
        nnsched.Hardware(**tetris.to_dict(), nodess=[2, 2])
    with pytest.raises(nnsched.HardwareError, match="missing field `energy`"):
        nnsched.Hardware(**{k: v for k, v in tetris.to_dict().items() if k != "energy"})
    yaml = tmp_path / "hw.yaml"
    yaml.write_text("name: x\nword_bits: 16\n")
    with pytest.raises(nnsched.HardwareError, match="hw.yaml"):
        nnsched.Hardware.from_yaml(yaml)

    net = nnsched.load_model("alex_net")
    with pytest.raises(nnsched.OptionsError, match="solver cannot be combined with buffer sharing"):
        nnsched.schedule(net, tetris, solve_loopblocking=True, enable_gbuf_sharing=True)
    with pytest.raises(nnsched.OptionsError, match="'goal' must be e, d or ed"):
        nnsched.schedule(net, tetris, goal="x")
    with pytest.raises(nnsched.OptionsError, match="'time_limit': the time limit must be a positive"):
        nnsched.schedule(net, tetris, time_limit=0)
    with pytest.raises(nnsched.NoScheduleError) as e:
        nnsched.schedule(net, tetris.replace(regf_bytes=2))
    assert e.value.layer == "conv1_a" and "register file" in e.value.reason

    s = nnsched.schedule(net, tetris)
    doc = s.to_dict()
    doc["layers"][0]["partition"]["dims"]["outp"] = [3, 3]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    with pytest.raises(nnsched.DocumentError, match="conv1"):
        nnsched.evaluate(edited)
    # An edited cost is not taken as true: the recomputed one is named.
    doc = s.to_dict()
    doc["layers"][1]["cost"] = 1.0
    edited.write_text(json.dumps(doc))
    file = nnsched.Schedule.read(edited)
    assert s.differences(nnsched.evaluate(s)) == []
    (diff,) = file.differences(nnsched.evaluate(file))
    assert diff.startswith(f"layers['{doc['layers'][1]['name']}'].cost: 1.0 in the file, ")
    with pytest.raises(nnsched.FileError):
        s.write(tmp_path / "no" / "such" / "dir.json")

    with pytest.raises(nnsched.Stopped) as e:
        nnsched.schedule(nnsched.load_model(RESNET, batch=16), "tangram", hybrid_partition=True,
                         time_limit=0.001)
    assert isinstance(e.value.partial, nnsched.Schedule) and e.value.done < e.value.total
    for cls in (nnsched.ModelError, nnsched.HardwareError, nnsched.OptionsError,
                nnsched.NoScheduleError, nnsched.DocumentError, nnsched.FileError,
                nnsched.Stopped, nnsched.Interrupted):
        assert issubclass(cls, nnsched.Error)


def test_numbers_out_of_range_are_refused_by_name():
    """The command line's checks, from Python: no panic, no silent NaN,
    every message naming the argument."""
    net = nnsched.load_model("mlp_s")
    for kw, match in [
        (dict(time_limit=1e300), "'time_limit': the time limit must be at most a year"),
        (dict(time_limit=float("inf")), "'time_limit': the time limit must be at most a year"),
        (dict(time_limit=float("nan")), "time_limit: nan is not a number"),
        (dict(layer_pipeline_time_overhead=float("nan")),
         "layer_pipeline_time_overhead: nan is not a number"),
        (dict(top=100000), "'top' must be an integer from 1 to 1000"),
        (dict(threads=0), "threads: the number of threads must be from 1 to 1024"),
        (dict(threads=20000), "threads: the number of threads must be from 1 to 1024"),
        (dict(batch=0), "batch: the batch size must be positive"),
        (dict(batch=-3), r"batch: must be a positive integer \(got -3\)"),
    ]:
        with pytest.raises(nnsched.OptionsError, match=match):
            nnsched.schedule(net, "eyeriss", **kw)
    for batch, match in [(0, "batch: the batch size must be positive"),
                         (2**63, "batch: the batch size must be at most 1048576")]:
        with pytest.raises(nnsched.OptionsError, match=match):
            nnsched.load_model("mlp_s", batch=batch)
    with pytest.raises(nnsched.OptionsError, match=r"batch: must be a positive integer \(got -1\)"):
        nnsched.load_model("mlp_s", batch=-1)
    with pytest.raises(nnsched.OptionsError, match="the word size must be 1 to 64 bits, not 0"):
        nnsched.stats(net, word_bits=0)
    with pytest.raises(nnsched.OptionsError, match="not 9223372036854775808"):
        nnsched.stats(net, word_bits=2**63)
    tetris = nnsched.Hardware.load("tetris")
    with pytest.raises(nnsched.HardwareError, match="field 'gbuf_bytes': nan is not a number"):
        tetris.replace(gbuf_bytes=float("nan"))
    with pytest.raises(nnsched.HardwareError, match="field 'energy.dram': nan is not a number"):
        tetris.replace(energy={"dram": float("nan")})
    with pytest.raises(nnsched.HardwareError, match="key 'energy.dram': at most 1e6 pJ"):
        tetris.replace(energy={"dram": 1e308})
    assert tetris.replace(dram_bandwidth=float("inf")) == tetris
    with pytest.raises(nnsched.ModelError, match="dimension 'sequence' must be positive"):
        nnsched.load_model("models/phi_tiny.onnx", dims={"sequence": 0})
    with pytest.raises(nnsched.ModelError, match="a built-in network has no named dimensions"):
        nnsched.load_model("mlp_s", dims={"sequence": 16})


def test_the_gil_is_released_while_searching():
    """While a search runs in one thread, another keeps running Python: its
    longest pause is a small part of the search (holding the GIL, the
    search would pause it for all of it)."""
    net = nnsched.load_model("vgg_net", batch=16)
    done = threading.Event()
    took = []

    def search():
        t = time.perf_counter()
        nnsched.schedule(net, "tangram", hybrid_partition=True, interlayer_partition=True)
        took.append(time.perf_counter() - t)
        done.set()

    worker = threading.Thread(target=search)
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < took[0] / 4, (longest, took[0])


def test_ctrl_c_returns_the_partial_schedule():
    net = nnsched.load_model(RESNET, batch=16)
    threading.Timer(0.5, _thread.interrupt_main).start()
    with pytest.raises(nnsched.Interrupted) as e:
        nnsched.schedule(net, "tangram", hybrid_partition=True, batch_partition=True,
                         ifmaps_partition=True, enable_gbuf_sharing=True,
                         interlayer_partition=True, enable_save_writeback=True)
    assert isinstance(e.value, KeyboardInterrupt)
    assert isinstance(e.value.partial, nnsched.Schedule)
    assert e.value.done < e.value.total == len(net)


def test_to_pandas_has_a_row_per_layer():
    pd = pytest.importorskip("pandas")
    s = nnsched.schedule(nnsched.load_model("alex_net"), "eyeriss")
    df = s.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df["name"]) == [l["name"] for l in s.layers]
    assert df["cost"].sum() == pytest.approx(s.totals["cost"], rel=1e-9)


def load_example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "python" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_buffer_sweep_example(tmp_path):
    pytest.importorskip("matplotlib")
    example = load_example("gbuf_sweep")
    points = example.sweep(model="alex_net", batch=4, sizes_kb=[32, 128])
    hw = nnsched.Hardware.load("tetris").replace(gbuf_bytes=128 * 1024)
    s = nnsched.schedule(nnsched.load_model("alex_net", batch=4), hw, hybrid_partition=True,
                         solve_loopblocking=True)
    assert [p[0] for p in points] == [32, 128]
    assert points[1][1:] == (s.totals["cost"] / 1e9, s.totals["time"])
    out = tmp_path / "sweep.png"
    example.plot(points, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_torch_example():
    pytest.importorskip("torch")
    s = load_example("from_torch").main()
    assert [l["type"] for l in s.layers] == ["conv", "pool", "conv", "pool", "fc"]
    assert s.batch == 8


def test_the_readme_example():
    """The README's Python example runs as written."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Python.*?```python\n(.*?)```", text, re.S).group(1)
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert isinstance(scope["s"], nnsched.Schedule)


def _search(net, hw):
    return nnsched.schedule(net, hw, hybrid_partition=True, threads=1)


def test_process_pools_take_networks_hardware_and_schedules():
    import concurrent.futures
    import multiprocessing
    import pickle

    net = nnsched.load_model("models/phi_tiny.onnx", dims={"sequence": 32}, batch=2)
    again = pickle.loads(pickle.dumps(net))
    assert (again.name, again.batch, again.layers) == (net.name, net.batch, net.layers)
    hws = [nnsched.Hardware.load("tetris"), nnsched.Hardware.load("tetris").replace(gbuf_bytes=65536)]
    assert pickle.loads(pickle.dumps(hws[1])) == hws[1]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        remote = list(pool.map(_search, [net, net], hws))
    assert [s.to_json() for s in remote] == [_search(net, hw).to_json() for hw in hws]
    assert pickle.loads(pickle.dumps(remote[0])) == remote[0]
