from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

HEADER = (
    "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\t"
    "CPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\t"
    "Disk read throughput [KB/s];\tDisk write throughput [KB/s];\t"
    "Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]"
)
START = 1372629804  # 2013-06-30 22:03:24 UTC, as in the real trace


def write_month(root, n_vms=6, days=3, seed=0):
    """A small Bitbrains-format month: daily CPU cycle, irregular sampling, one burst per VM."""
    rng = np.random.default_rng(seed)
    month = root / "bitbrains_rnd" / "2013-7"
    month.mkdir(parents=True)
    for vm in range(1, n_vms + 1):
        lines = [HEADER]
        t = START + int(rng.integers(0, 60))
        end = START + days * 86400
        while t < end:
            phase = 2 * math.pi * ((t - START) % 86400) / 86400
            cpu = 3000 + 2500 * math.sin(phase) + float(rng.normal(0, 150))
            if (t - START) // 3600 == 30 + vm:  # a one-hour burst
                cpu *= 2.5
            mem = 4_000_000 + 500_000 * math.sin(phase)
            lines.append(
                f"{t};\t2;\t5851.9989;\t{max(cpu, 0):.3f};\t1.0;\t8218624.0;\t{mem:.1f};\t"
                f"1.0;\t2.0;\t{30 + 10 * math.sin(phase):.3f};\t{50.0:.3f}"
            )
            t += int(rng.choice([300, 300, 300, 240, 64, 360]))
        with gzip.open(month / f"{vm}.csv.gz", "wt") as fh:
            fh.write("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    return write_month(tmp_path_factory.mktemp("data"))
