"""Shared builders for the labber backend tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.backends.labber.labber_files import LogSpec, Scalar, Step, Trace

DAY = Path("2024") / "05" / "Data_0512"


def sweep_2d(**kw) -> LogSpec:
    """A 2-D sweep: frequency (inner) x voltage, a current driven by a relation, a step
    with one value and a "/" in its name, a real and a complex scalar channel."""
    return LogSpec(
        name=kw.pop("name", "resonator vs flux"),
        steps=[
            Step("VNA - Frequency", list(np.linspace(4e9, 5e9, 7)), "Hz"),
            Step("Flux - Voltage", [-1.0, -0.5, 0.0, 0.5], "V"),
            Step(
                "Flux - Current",
                [0.0],
                "A",
                equation="p1/50",
                related=lambda g: g["Flux - Voltage"] / 50,
            ),
            Step("A/B bank selector", [1.0]),
        ],
        scalars=[
            Scalar(
                "Lock-in/X", "V", lambda g: g["VNA - Frequency"] * 1e-9 + 10 * g["Flux - Voltage"]
            ),
            Scalar(
                "VNA - S21",
                "",
                lambda g: np.exp(1j * g["VNA - Frequency"] / 1e9) * (1 + g["Flux - Voltage"]),
                complex=True,
            ),
        ],
        tags=["cooldown 7", "resonator"],
        user="Ada",
        project="qubits",
        comment="first look\nat the flux dependence",
        star=True,
        **kw,
    )


def trace_log(**kw) -> LogSpec:
    """Power x output steps, one complex vector trace per point (its own time axis)."""
    return LogSpec(
        name=kw.pop("name", "single shots"),
        steps=kw.pop(
            "steps",
            [Step("Drive - Power", [-10.0, -5.0, 0.0], "dBm"), Step("Drive - Output", [0.0, 1.0])],
        ),
        traces=kw.pop(
            "traces",
            [
                Trace(
                    "Digitizer - Signal",
                    "V",
                    50,
                    1e-6,
                    2e-9,
                    lambda g, t: (g["Drive - Power"] + 1j * g["Drive - Output"])[..., None] * t,
                )
            ],
        ),
        **kw,
    )


def add_labber(rt: Runtime, root: Path, name: str = "lab", **settings: str) -> None:
    if rt.store.get_scope("qubits") is None:
        rt.store.create_scope("qubits")
    sources.add_source(
        rt,
        "labber",
        name,
        scope="qubits",
        settings={"labber_directory": str(root), "set_up": "fridge-2", **settings},
    )


def tree_state(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256 (byte-identical, no side files)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def labber_root(tmp_path: Path) -> Path:
    root = tmp_path / "Labber Data"
    root.mkdir()
    return root
