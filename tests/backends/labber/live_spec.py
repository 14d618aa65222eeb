"""The log the live tests' writer process grows (shared with that process)."""

from __future__ import annotations

import numpy as np

from tests.backends.labber.labber_files import LogSpec, Scalar, Step


def live_sweep(n_outer: int) -> LogSpec:
    return LogSpec(
        name="live flux sweep",
        steps=[
            Step("VNA - Frequency", list(np.linspace(4e9, 5e9, 21)), "Hz"),
            Step("Flux - Voltage", list(np.linspace(-1, 1, n_outer)), "V"),
        ],
        scalars=[
            Scalar(
                "Lock-in/X", "V", lambda g: g["VNA - Frequency"] * 1e-9 + 10 * g["Flux - Voltage"]
            )
        ],
        creation_time=1.75e9,
    )
