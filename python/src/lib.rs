//! Python bindings of the nnsched library: the same four calls
//! (`load_model`, hardware, `schedule`, `evaluate`) and `stats`, the same
//! schedule document. Searches run with the GIL released, on a thread of
//! their own so that Ctrl-C (checked every 50 ms) can cancel them. Values
//! cross as the document's JSON, so Python sees exactly what `-o` writes.

use std::path::PathBuf;
use std::time::Duration;

use nnsched::hw::HwSpec;
use nnsched::{Cancel, Error, LoadOptions, Network, SearchOptions, StopReason};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Raises `e` as the matching class of `nnsched.errors`, with its fields
/// as attributes.
fn raise(py: Python<'_>, e: Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let msg = nnsched::one_line(&e.to_string());
        let (class, attrs): (&str, Vec<(&str, Py<PyAny>)>) = match e {
            Error::Model { .. } => ("ModelError", vec![]),
            Error::Hardware(_) => ("HardwareError", vec![]),
            Error::Options(_) => ("OptionsError", vec![]),
            Error::NoSchedule { layer, reason } => (
                "NoScheduleError",
                vec![
                    ("layer", layer.into_pyobject(py)?.into_any().unbind()),
                    (
                        "reason",
                        reason.to_string().into_pyobject(py)?.into_any().unbind(),
                    ),
                ],
            ),
            Error::Stopped {
                reason,
                done,
                total,
                partial,
            } => (
                match reason {
                    StopReason::Cancelled => "Interrupted",
                    StopReason::TimeLimit(_) => "Stopped",
                },
                vec![
                    (
                        "partial",
                        Py::new(py, Schedule { doc: *partial })?.into_any(),
                    ),
                    (
                        "reason",
                        reason.to_string().into_pyobject(py)?.into_any().unbind(),
                    ),
                    ("done", done.into_pyobject(py)?.into_any().unbind()),
                    ("total", total.into_pyobject(py)?.into_any().unbind()),
                ],
            ),
            Error::Document(_) => ("DocumentError", vec![]),
            Error::Io { .. } => ("FileError", vec![]),
            Error::Internal(_) => ("InternalError", vec![]),
        };
        Ok(error_of_class(py, class, msg, attrs))
    };
    build().unwrap_or_else(|err| err)
}

/// An exception of class `class` of `nnsched.errors` with `msg` and
/// attributes `attrs`.
fn error_of_class(
    py: Python<'_>,
    class: &str,
    msg: String,
    attrs: Vec<(&str, Py<PyAny>)>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let exc = py.import("nnsched.errors")?.getattr(class)?.call1((msg,))?;
        for (k, v) in attrs {
            exc.setattr(k, v)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// Hardware fields given as Python values (dicts, lists, tuples, strings,
/// numbers, booleans, `None`) as JSON, refusing NaN by its key (JSON has no NaN, and
/// `json.dumps` would write one serde cannot read); an infinity becomes
/// `"inf"`, which the keys that allow it take.
fn hardware_json(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<serde_json::Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};
    use serde_json::Value;
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    Ok(if obj.is_none() {
        Value::Null
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Value::Bool(b.is_true())
    } else if obj.cast::<PyInt>().is_ok() {
        match obj.extract::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(obj.extract::<f64>()?),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        if x.is_nan() {
            return Err(error_of_class(
                obj.py(),
                "HardwareError",
                format!("field '{path}': nan is not a number"),
                vec![],
            ));
        }
        serde_json::Number::from_f64(x).map_or_else(|| Value::from("inf"), Value::Number)
    } else if let Ok(s) = obj.cast::<PyString>() {
        Value::from(s.to_cow()?.into_owned())
    } else if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, v) in d.iter() {
            let k: String = k.extract()?;
            let v = hardware_json(&v, &at(&k))?;
            m.insert(k, v);
        }
        Value::Object(m)
    } else if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let items: PyResult<Vec<Value>> = obj
            .try_iter()?
            .enumerate()
            .map(|(i, v)| hardware_json(&v?, &format!("{path}[{i}]")))
            .collect();
        Value::Array(items?)
    } else {
        return Err(error_of_class(
            obj.py(),
            "HardwareError",
            format!(
                "field '{path}': a {} is not a value a hardware field takes",
                obj.get_type().name()?
            ),
            vec![],
        ));
    })
}

/// A file path or a name, from a `str` or an `os.PathLike`.
fn path_arg(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.extract::<String>() {
        return Ok(s);
    }
    let p: PathBuf = obj.extract()?;
    Ok(p.display().to_string())
}

/// A network: its layers, and the batch it is scheduled with unless
/// `schedule` is given another.
#[pyclass(module = "nnsched", name = "Network", frozen)]
struct PyNetwork {
    net: Network,
    batch: u64,
    skipped: Vec<String>,
    /// How it was loaded, to load it again in another process (pickling).
    loaded_with: LoadOptions,
}

#[pymethods]
impl PyNetwork {
    /// The model's name: a built-in name or the ONNX file's path.
    #[getter]
    fn name(&self) -> &str {
        self.net.name()
    }

    /// The batch size: as given to `load_model`, else the model's, else 1.
    #[getter]
    fn batch(&self) -> u64 {
        self.batch
    }

    /// Unsupported ONNX nodes passed through (`skip_unsupported=True`), as
    /// `name (OpType)`.
    #[getter]
    fn skipped(&self) -> Vec<String> {
        self.skipped.clone()
    }

    /// The layers in order, each a dict: name, type, channels, sizes,
    /// filter, stride, groups, predecessors and MACs for the batch.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = PyList::empty(py);
        for id in self.net.ids() {
            let l = self.net.layer(id);
            let d = PyDict::new(py);
            d.set_item("name", self.net.layer_name(id))?;
            d.set_item("type", l.type_name())?;
            d.set_item("nifm", l.nifm())?;
            d.set_item("nofm", l.nofm())?;
            d.set_item("ifmap", (l.hifm(), l.wifm()))?;
            d.set_item("ofmap", (l.hofm(), l.wofm()))?;
            d.set_item("filter", (l.hfil(), l.wfil()))?;
            d.set_item("stride", (l.htrd(), l.wtrd()))?;
            d.set_item("groups", l.groups())?;
            let prevs: Vec<&str> = self
                .net
                .prevs(id)
                .iter()
                .map(|&s| self.net.source_name(s))
                .collect();
            d.set_item("prevs", prevs)?;
            d.set_item("macs", l.total_ops(self.batch))?;
            rows.append(d)?;
        }
        Ok(rows)
    }

    fn __len__(&self) -> usize {
        self.net.len()
    }

    /// Pickled as the call that loads it, for process pools.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Py<PyAny>)> {
        let o = &self.loaded_with;
        let dims: std::collections::BTreeMap<&str, u64> =
            o.dims.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let args = (
            self.net.name(),
            self.batch,
            dims,
            o.skip_unsupported,
            o.max_tensor_elements,
        )
            .into_pyobject(py)?
            .into_any()
            .unbind();
        Ok((py.import("nnsched")?.getattr("load_model")?, args))
    }

    fn __repr__(&self) -> String {
        format!(
            "Network('{}', {} layers, batch {})",
            self.net.name(),
            self.net.len(),
            self.batch
        )
    }
}

/// Loads a built-in network (`"alex_net"`, ...) or an ONNX file.
///
/// `batch` overrides the model's own (default: the model's, else 1);
/// `dims` sizes named symbolic input dimensions (`{"sequence": 512}`);
/// `skip_unsupported` passes unsupported ONNX operators through (listed
/// in `Network.skipped`) instead of raising `ModelError`.
#[pyfunction]
#[pyo3(signature = (model, batch=None, dims=None, skip_unsupported=false, max_tensor_elements=None))]
fn load_model(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    batch: Option<i128>,
    dims: Option<std::collections::BTreeMap<String, u64>>,
    skip_unsupported: bool,
    max_tensor_elements: Option<u64>,
) -> PyResult<PyNetwork> {
    let name = path_arg(model)?;
    let batch = batch_arg(py, batch)?;
    let opts = LoadOptions {
        skip_unsupported,
        max_tensor_elements: max_tensor_elements.unwrap_or(nnsched::DEFAULT_MAX_TENSOR_ELEMENTS),
        dims: dims.unwrap_or_default().into_iter().collect(),
    };
    let m = py
        .detach(|| nnsched::load_model(&name, &opts))
        .map_err(|e| raise(py, e))?;
    Ok(PyNetwork {
        batch: batch.or(m.batch).unwrap_or(1),
        net: m.network,
        skipped: m.skipped,
        loaded_with: opts,
    })
}

/// A batch argument checked as the search checks it, the error naming it
/// (taken as a wide integer so that a negative one is named too).
fn batch_arg(py: Python<'_>, batch: Option<i128>) -> PyResult<Option<u64>> {
    let Some(b) = batch else {
        return Ok(None);
    };
    let checked = u64::try_from(b)
        .map_err(|_| format!("batch: must be a positive integer (got {b})"))
        .and_then(|b| {
            SearchOptions::new(b)
                .validate()
                .map(|()| b)
                .map_err(|e| format!("batch: {e}"))
        });
    checked
        .map(Some)
        .map_err(|m| error_of_class(py, "OptionsError", m, vec![]))
}

/// Hardware: a grid of nodes with a PE array, register files and a global
/// buffer each, DRAM and a NoC. Fields and units as in the YAML files.
#[pyclass(module = "nnsched", name = "Hardware", frozen)]
#[derive(Clone)]
struct PyHardware {
    hw: nnsched::Hardware,
}

fn hardware_from_json(py: Python<'_>, text: &str) -> PyResult<PyHardware> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let spec: HwSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let why = e.into_inner().to_string();
        raise(
            py,
            Error::Hardware(if path == "." {
                why
            } else {
                format!("field '{path}': {why}")
            }),
        )
    })?;
    nnsched::Hardware::from_spec(spec)
        .map(|hw| PyHardware { hw })
        .map_err(|e| raise(py, Error::Hardware(format!("{e:#}"))))
}

#[pymethods]
impl PyHardware {
    /// Hardware from its fields, as in a YAML file: `name`, `word_bits`,
    /// `nodes`, `pe_array`, `regf_bytes`, `gbuf_bytes`, `memory`,
    /// `array_bus_bits`, `dram_bandwidth` and `energy` (a dict). Errors name
    /// the field.
    #[new]
    #[pyo3(signature = (**fields))]
    fn new(py: Python<'_>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let text = match fields {
            Some(f) => hardware_json(f.as_any(), "")?.to_string(),
            None => "{}".into(),
        };
        hardware_from_json(py, &text)
    }

    /// Reads a hardware YAML file.
    #[staticmethod]
    fn from_yaml(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = PathBuf::from(path_arg(path)?);
        nnsched::Hardware::load(&p)
            .map(|hw| PyHardware { hw })
            .map_err(|e| raise(py, Error::Hardware(format!("{e:#}"))))
    }

    /// A built-in hardware description (`"tetris"`, `"tangram"`, ...), or a
    /// YAML file, as the command line's `--hw` takes it.
    #[staticmethod]
    fn load(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<Self> {
        nnsched::load_hardware(&path_arg(name)?)
            .map(|hw| PyHardware { hw })
            .map_err(|e| raise(py, e))
    }

    /// A copy with some fields replaced (`hw.replace(gbuf_bytes=65536)`),
    /// validated like a new one; `energy` may give some of its fields.
    #[pyo3(signature = (**fields))]
    fn replace(&self, py: Python<'_>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut spec = serde_json::to_value(self.hw.to_spec()).expect("a spec serializes");
        if let Some(f) = fields {
            merge(&mut spec, hardware_json(f.as_any(), "")?);
        }
        hardware_from_json(py, &spec.to_string())
    }

    /// The fields, as a YAML file holds them.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = serde_json::to_string(&self.hw.to_spec()).expect("a spec serializes");
        json_loads(py, &text)
    }

    /// The hardware's name.
    #[getter]
    fn name(&self) -> &str {
        &self.hw.name
    }

    /// Pickled as its fields, for process pools.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Py<PyAny>,))> {
        Ok((
            py.import("nnsched")?.getattr("_hardware")?,
            (self.to_dict(py)?,),
        ))
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.hw == other.hw
    }

    fn __repr__(&self) -> String {
        let h = &self.hw;
        format!(
            "Hardware('{}', nodes {}x{}, PEs {}x{}, gbuf {} words)",
            h.name, h.nodes.h, h.nodes.w, h.pe_array.h, h.pe_array.w, h.gbuf_words
        )
    }
}

/// `changes` over `base`, objects merged key by key.
fn merge(base: &mut serde_json::Value, changes: serde_json::Value) {
    match (base, changes) {
        (serde_json::Value::Object(b), serde_json::Value::Object(c)) => {
            for (k, v) in c {
                match b.get_mut(&k) {
                    Some(old) if old.is_object() && v.is_object() => merge(old, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, c) => *b = c,
    }
}

/// A schedule document (`nnsched-schedule/1`), as `nnsched -o` writes it.
#[pyclass(module = "nnsched", name = "Schedule", frozen)]
struct Schedule {
    doc: nnsched::Schedule,
}

#[pymethods]
impl Schedule {
    /// The document as JSON text, exactly as `write` and `nnsched -o` write it.
    fn to_json(&self) -> String {
        self.doc.to_json()
    }

    /// The document as YAML text.
    fn to_yaml(&self) -> String {
        self.doc.to_yaml()
    }

    /// The document as plain dicts and lists.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.doc.to_json())
    }

    /// Writes the document (YAML for `.yaml`/`.yml`, else JSON): the same
    /// bytes as `nnsched ... -o PATH`.
    fn write(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = PathBuf::from(path_arg(path)?);
        py.detach(|| self.doc.write(&p)).map_err(|e| raise(py, e))
    }

    /// Totals: cost (pJ), time (cycles), ops, accesses per level, NoC hops...
    #[getter]
    fn totals(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(
            py,
            &serde_json::to_string(&self.doc.totals).expect("serializes"),
        )
    }

    /// One dict per layer, as in the document.
    #[getter]
    fn layers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(
            py,
            &serde_json::to_string(&self.doc.layers).expect("serializes"),
        )
    }

    /// The segments: which layers run together, on which nodes.
    #[getter]
    fn segments(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(
            py,
            &serde_json::to_string(&self.doc.segments).expect("serializes"),
        )
    }

    /// The network's name, as loaded.
    #[getter]
    fn network(&self) -> &str {
        &self.doc.network
    }

    /// The batch size scheduled.
    #[getter]
    fn batch(&self) -> u64 {
        self.doc.batch
    }

    /// One row per layer (name, type, segment, cost and its parts, time,
    /// ops, accesses per memory level, NoC hops) as a pandas DataFrame;
    /// needs pandas.
    fn to_pandas(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let layers = self.layers(py)?;
        Ok(py
            .import("nnsched._frames")?
            .call_method1("layer_frame", (layers,))?
            .unbind())
    }

    /// A schedule document from its JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        nnsched::doc::parse(text, false)
            .map(|doc| Schedule { doc })
            .map_err(|e| raise(py, Error::Document(e.to_string())))
    }

    /// Pickled as its JSON text, for process pools.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        Ok((
            py.import("nnsched")?
                .getattr("Schedule")?
                .getattr("from_json")?,
            (self.doc.to_json(),),
        ))
    }

    /// Reads a schedule file (.json, .yaml).
    #[staticmethod]
    fn read(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = PathBuf::from(path_arg(path)?);
        nnsched::read_schedule(&p)
            .map(|doc| Schedule { doc })
            .map_err(|e| raise(py, e))
    }

    fn __repr__(&self) -> String {
        let t = &self.doc.totals;
        format!(
            "Schedule('{}', batch {}, {} layers, {:.4e} pJ, {} cycles)",
            self.doc.network,
            self.doc.batch,
            self.doc.layers.len(),
            t.cost,
            t.time
        )
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.doc == other.doc
    }

    /// The fields of `recomputed` (an `evaluate` of this schedule) whose
    /// values differ from this one's, each as `path: VALUE in the file,
    /// VALUE recomputed`, as `nnsched evaluate` names them.
    fn differences(&self, recomputed: &Self) -> Vec<String> {
        nnsched::doc::differences(&self.doc, &recomputed.doc)
    }
}

/// Runs `search` on a thread of its own with the GIL released; the
/// calling thread waits for its result, and every 50 ms checks for Ctrl-C
/// (KeyboardInterrupt), which cancels the search: it stops after the layer
/// at hand.
fn interruptible(
    py: Python<'_>,
    cancel: Cancel,
    search: impl FnOnce() -> Result<nnsched::Schedule, Error> + Send,
) -> PyResult<Schedule> {
    let (result, signal) = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let worker = s.spawn(move || {
                // The receiver outlives the worker: the send cannot fail.
                let _ = tx.send(search());
            });
            let mut signal = None;
            let result = loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(r) => break Ok(r),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break Err(()),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                }
                if signal.is_none()
                    && let Err(e) = Python::attach(|py| py.check_signals())
                {
                    cancel.cancel();
                    signal = Some(e);
                }
            };
            let _ = worker.join();
            (result, signal)
        })
    });
    let result = result.map_err(|()| PyValueError::new_err("the search panicked"))?;
    match (result, signal) {
        (Ok(doc), None) => Ok(Schedule { doc }),
        // Cancelled, or finished before the cancel took: the signal's own
        // exception unless the library reports the stop.
        (Err(e @ Error::Stopped { .. }), _) => Err(raise(py, e)),
        (_, Some(sig)) => Err(sig),
        (Err(e), None) => Err(raise(py, e)),
    }
}

/// Finds the best schedule of `network` on `hw`. Keyword arguments are
/// the command line's search flags with underscores (`goal="e"`,
/// `top=1`, `solve_loopblocking=True`, `hybrid_partition=True`,
/// `disable_bypass=["i", "o", "f"]`, `time_limit=10.0` seconds, ...);
/// `threads` sets the worker threads (the result does not depend on it).
/// The GIL is released while the search runs; Ctrl-C raises `Interrupted`
/// with the best schedule of the layers done as `.partial`, and
/// `time_limit` raises `Stopped` the same way.
#[pyfunction]
#[pyo3(signature = (
    network, hw, *, goal="e", top=1, batch=None, disable_bypass=None,
    solve_loopblocking=false, hybrid_partition=false, batch_partition=false,
    ifmaps_partition=false, enable_access_forwarding=false,
    enable_gbuf_sharing=false, interlayer_partition=false,
    enable_save_writeback=false, layer_pipeline_time_overhead=None,
    layer_pipeline_max_degree=None, disable_interlayer_opt=false,
    nn_dataflow=false, search=None, time_limit=None, threads=None
))]
#[allow(clippy::too_many_arguments)]
fn schedule(
    py: Python<'_>,
    network: &PyNetwork,
    hw: &Bound<'_, PyAny>,
    goal: &str,
    top: usize,
    batch: Option<i128>,
    disable_bypass: Option<Vec<String>>,
    solve_loopblocking: bool,
    hybrid_partition: bool,
    batch_partition: bool,
    ifmaps_partition: bool,
    enable_access_forwarding: bool,
    enable_gbuf_sharing: bool,
    interlayer_partition: bool,
    enable_save_writeback: bool,
    layer_pipeline_time_overhead: Option<f64>,
    layer_pipeline_max_degree: Option<f64>,
    disable_interlayer_opt: bool,
    nn_dataflow: bool,
    search: Option<String>,
    time_limit: Option<f64>,
    threads: Option<usize>,
) -> PyResult<Schedule> {
    let hw = hardware_arg(py, hw)?;
    let batch = batch_arg(py, batch)?;
    // JSON holds no NaN (it would become `null`, as if not given).
    for (name, v) in [
        ("time_limit", time_limit),
        ("layer_pipeline_time_overhead", layer_pipeline_time_overhead),
        ("layer_pipeline_max_degree", layer_pipeline_max_degree),
    ] {
        if v.is_some_and(f64::is_nan) {
            return Err(error_of_class(
                py,
                "OptionsError",
                format!("{name}: nan is not a number"),
                vec![],
            ));
        }
    }
    // An infinite time limit is refused like any beyond a year.
    let time_limit = time_limit.map(|t| if t.is_finite() { t } else { f64::MAX });
    let mut o = SearchOptions::new(batch.unwrap_or(network.batch));
    // The library's own names and checks for each option.
    let named: [(&str, serde_json::Value); 17] = [
        ("goal", goal.into()),
        ("top", top.into()),
        ("disable_bypass", disable_bypass.unwrap_or_default().into()),
        ("solve_loopblocking", solve_loopblocking.into()),
        ("hybrid_partition", hybrid_partition.into()),
        ("batch_partition", batch_partition.into()),
        ("ifmaps_partition", ifmaps_partition.into()),
        ("enable_access_forwarding", enable_access_forwarding.into()),
        ("enable_gbuf_sharing", enable_gbuf_sharing.into()),
        ("interlayer_partition", interlayer_partition.into()),
        ("enable_save_writeback", enable_save_writeback.into()),
        (
            "layer_pipeline_time_overhead",
            layer_pipeline_time_overhead.into(),
        ),
        (
            "layer_pipeline_max_degree",
            layer_pipeline_max_degree.into(),
        ),
        ("disable_interlayer_opt", disable_interlayer_opt.into()),
        ("nn_dataflow", nn_dataflow.into()),
        ("search", search.into()),
        ("time_limit", time_limit.into()),
    ];
    for (k, v) in named.iter().filter(|(_, v)| !v.is_null()) {
        o.set_named(k, v)
            .map_err(|e| error_of_class(py, "OptionsError", e, vec![]))?;
    }
    o.validate().map_err(|e| raise(py, e.into()))?;
    let cancel = Cancel::new();
    o.cancel = Some(cancel.clone());
    let threads = threads
        .map(nnsched::options::threads)
        .transpose()
        .map_err(|e| error_of_class(py, "OptionsError", format!("threads: {e}"), vec![]))?;
    let pool = match threads {
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
        ),
        None => None,
    };
    let net = &network.net;
    interruptible(py, cancel, move || {
        let run = || nnsched::schedule(net, &hw, &o);
        match &pool {
            Some(p) => p.install(run),
            None => run(),
        }
    })
}

/// Hardware from a `Hardware`, a built-in name or a YAML path.
fn hardware_arg(py: Python<'_>, hw: &Bound<'_, PyAny>) -> PyResult<nnsched::Hardware> {
    if let Ok(h) = hw.cast::<PyHardware>() {
        return Ok(h.get().hw.clone());
    }
    let name = path_arg(hw)
        .map_err(|_| PyTypeError::new_err("hw: a Hardware, a built-in name or a YAML path"))?;
    nnsched::load_hardware(&name).map_err(|e| raise(py, e))
}

/// Recomputes a schedule (a `Schedule` or a file's path) from its
/// decisions alone, on `hw` (default: the hardware recorded in it) and
/// `model` (a `Network`, a name or an ONNX path; default: the one recorded).
/// Raises `DocumentError` when the decisions do not hold together.
#[pyfunction]
#[pyo3(signature = (doc, hw=None, model=None))]
fn evaluate(
    py: Python<'_>,
    doc: &Bound<'_, PyAny>,
    hw: Option<&Bound<'_, PyAny>>,
    model: Option<&Bound<'_, PyAny>>,
) -> PyResult<Schedule> {
    let doc = match doc.cast::<Schedule>() {
        Ok(s) => s.get().doc.clone(),
        Err(_) => Schedule::read(py, doc)?.doc,
    };
    let hw = hw.map(|h| hardware_arg(py, h)).transpose()?;
    let loaded;
    let net = match model {
        Some(m) if m.cast::<PyNetwork>().is_ok() => &m.cast::<PyNetwork>()?.get().net,
        other => {
            let name = match other {
                Some(m) => path_arg(m)?,
                None => doc.network.clone(),
            };
            loaded = py
                .detach(|| nnsched::load_model(&name, &LoadOptions::default()))
                .map_err(|e| raise(py, e))?;
            &loaded.network
        }
    };
    py.detach(|| nnsched::evaluate(&doc, net, hw.as_ref()))
        .map(|doc| Schedule { doc })
        .map_err(|e| raise(py, e))
}

/// Per-layer statistics as `nnsched stats --format json` gives them: data
/// sizes in bytes, MACs (pooling and eltwise: operations) for the batch,
/// and the smallest buffer with full reuse.
#[pyfunction]
#[pyo3(signature = (network, word_bits=16))]
fn stats(py: Python<'_>, network: &PyNetwork, word_bits: u64) -> PyResult<Py<PyAny>> {
    let rows = nnsched::stats::layer_stats(&network.net, network.batch, word_bits)
        .map_err(|e| error_of_class(py, "OptionsError", e, vec![]))?;
    json_loads(py, &serde_json::to_string(&rows).expect("serializes"))
}

/// The names of the built-in networks and hardware descriptions.
#[pyfunction]
fn builtins() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        nnsched::network::zoo::NAMES.to_vec(),
        nnsched::hw::PRESETS.iter().map(|p| p.0).collect(),
    )
}

#[pymodule]
fn _nnsched(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNetwork>()?;
    m.add_class::<PyHardware>()?;
    m.add_class::<Schedule>()?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(schedule, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(builtins, m)?)?;
    Ok(())
}
