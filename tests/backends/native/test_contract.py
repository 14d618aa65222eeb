"""The native backend passes the same contract checks as every plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etiket_sync_agent import native
from etiket_sync_agent.backends.native import NativeBackend
from etiket_sync_agent.testing import BackendContractTests


class TestNativeContract(BackendContractTests):
    backend_class = NativeBackend

    def sample_config(self, tmp_path: Path) -> dict[str, Any]:
        area = tmp_path / "native"
        with (
            native.dataset("sample", scope="test", directory=area) as ds,
            ds.measurement("m", {"x": ("V", [0.0, 1.0, 2.0])}, {"y": "V"}) as m,
        ):
            for v in (1.0, 2.0, 3.0):
                m.append(y=v)
        return {"native_directory": str(area)}

    def check_datasets(self, datasets: list[dict[str, Any]]) -> None:
        super().check_datasets(datasets)
        (ds,) = datasets
        assert ds["name"] == "sample"
        assert {f["name"] for f in ds["files"]} == {"m.hdf5"}
