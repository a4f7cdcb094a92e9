"""Tables of schedules (pandas is imported only when asked for)."""


def layer_frame(layers):
    """One row per layer of a schedule document's ``layers``."""
    try:
        import pandas as pd
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("Schedule.to_pandas needs pandas: pip install pandas") from e
    rows = []
    for layer in layers:
        row = {k: layer[k] for k in ("name", "type", "segment", "slot", "cost", "time", "ops")}
        for part, value in layer["cost_breakdown"].items():
            row["cost_" + part] = value
        for level, value in layer["accesses"].items():
            row["accesses_" + level] = value
        row["noc_hops"] = layer["noc_hops"]
        rows.append(row)
    return pd.DataFrame(rows)
