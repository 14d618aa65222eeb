"""Cost of the NetCDF read-back check against the write it follows.

``etiket_sync_agent.netcdf.write_netcdf`` writes a file, reads it back and compares it
with the Dataset (:mod:`etiket_sync_agent.netcdf.verify`). For a few typical Datasets,
this measures in the same run the write alone (the NetCDF-ready copy and the writer the
agent picks) and the read-back check alone on the file just written (best of
``--repeat``), and prints the check as a share of the write. Files are in the page cache
(as right after the agent wrote them).

    PYTHONPATH=src python bench/bench_netcdf_verify.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from etiket_sync_agent.netcdf import can_write, to_netcdf_ready  # noqa: E402
from etiket_sync_agent.netcdf.nc4_writer import write_netcdf4  # noqa: E402
from etiket_sync_agent.netcdf.verify import verify_netcdf  # noqa: E402


def small_sweep() -> xr.Dataset:
    """A QCoDeS-like 1-D sweep: 100 points, two measured parameters."""
    x = np.linspace(-1, 1, 100)
    return xr.Dataset(
        {
            "current": (("gate",), np.sin(x), {"units": "A", "label": "Current"}),
            "voltage": (("gate",), np.cos(x), {"units": "V", "label": "Voltage"}),
        },
        coords={"gate": ("gate", x, {"units": "V"})},
        attrs={"run_id": 7, "sample_name": "S12"},
    )


def small_mixed() -> xr.Dataset:
    """A small file through xarray's writer: complex values, times, text."""
    n = 200
    return xr.Dataset(
        {
            "iq": (("t",), np.exp(1j * np.linspace(0, 6, n))),
            "note": (("t",), np.array([f"p{i}" for i in range(n)], dtype=object)),
        },
        coords={"t": pd.date_range("2024-01-01", periods=n, freq="ms")},
    )


def big_map(n: int) -> Callable[[], xr.Dataset]:
    def make() -> xr.Dataset:
        values = np.random.default_rng(1).random((n, n))
        values[::7, ::5] = np.nan
        return xr.Dataset(
            {"signal": (("y", "x"), values, {"units": "V"})},
            coords={"y": np.arange(n) * 0.1, "x": np.arange(n) * 0.2},
        )

    make.__name__ = f"map {n}x{n} ({n * n * 8 / 1e6:.0f} MB)"
    return make


def write(ready: xr.Dataset, path: Path) -> None:
    if can_write(ready):
        write_netcdf4(ready, path)
    else:
        ready.to_netcdf(path, engine="h5netcdf")


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = [small_sweep, small_mixed, big_map(1000), big_map(4000)]
    print("| Dataset | writer | write | read-back check | check / write |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-ncv-") as tmp:
        for make in cases:
            ds = make()
            path = Path(tmp) / "f.hdf5"
            ready = to_netcdf_ready(ds)

            def write_once(ds: xr.Dataset = ds, path: Path = path) -> None:
                write(to_netcdf_ready(ds), path)

            repeat = args.repeat if ds.nbytes < 50e6 else max(2, args.repeat // 2)
            t_write = best(write_once, repeat)
            t_check = best(lambda ready=ready, path=path: verify_netcdf(path, ready), repeat)
            writer = "fast (h5py)" if can_write(ready) else "xarray"
            print(
                f"| {make.__name__} | {writer} | {t_write * 1e3:.2f} ms | "
                f"{t_check * 1e3:.2f} ms | {t_check / t_write:.0%} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
