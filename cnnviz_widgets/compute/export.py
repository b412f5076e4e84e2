"""Tables as CSV files and safe file names for what a student saves. Pure functions: no widgets."""
from __future__ import annotations

import csv
import io
import re

import numpy as np


def csv_bytes(header, rows) -> bytes:
    """UTF-8 CSV of a header row and data rows (numbers written in full, not rounded).

    >>> csv_bytes(["layer", "mean"], [["conv1", 0.25]])
    b'layer,mean\\r\\nconv1,0.25\\r\\n'
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue().encode("utf-8")


def _cell(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def confusion_csv(matrix, class_names) -> bytes:
    """The confusion matrix (K, K) as CSV: one row per true class, one column per predicted class.

    >>> confusion_csv([[5, 1], [2, 7]], ["cat", "dog"]).decode()
    'true \\\\ predicted,cat,dog\\r\\ncat,5,1\\r\\ndog,2,7\\r\\n'
    """
    if matrix is None:
        raise ValueError("compute the confusion matrix first")
    m = np.asarray(matrix)
    names = [str(n) for n in class_names]
    if m.ndim != 2 or m.shape != (len(names), len(names)):
        raise ValueError(f"a confusion matrix of {len(names)} classes is {len(names)}×{len(names)}, "
                         f"not {'×'.join(str(d) for d in m.shape)}")
    return csv_bytes(["true \\ predicted", *names], [[name, *m[i].tolist()] for i, name in enumerate(names)])


#: The columns of ``stats_csv``, one per key of ``compute.layer_stats`` (shape written "32x32x32").
STATS_COLUMNS = ("layer", "shape", "mean", "std", "min", "max", "sparsity")


def stats_csv(rows) -> bytes:
    """``[(layer name, compute.layer_stats dict), ...]`` as CSV, sparsity as a fraction in [0, 1]."""
    return csv_bytes(STATS_COLUMNS, [
        [name, "x".join(str(d) for d in s["shape"]), *(float(s[k]) for k in STATS_COLUMNS[2:])]
        for name, s in rows])


def file_name(*parts, suffix: str) -> str:
    """A file name from ``parts`` joined by "-", with only letters, digits, "_", "-" and "." kept
    (None parts left out).

    >>> file_name("cnnviz", "features", "conv2_act", "image 42", suffix=".png")
    'cnnviz-features-conv2_act-image42.png'
    """
    cleaned = [re.sub(r"[^0-9A-Za-z_.-]", "", str(p)) for p in parts if p is not None]
    return "-".join(p for p in cleaned if p).strip(".") + suffix
