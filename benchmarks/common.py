"""Small helpers shared by the benchmark scripts (imported as a sibling: each script runs with
benchmarks/ on sys.path)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_avg() -> str:
    """Context for timings: the machine's cores are shared with other work."""
    try:
        return "load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in 0-100."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def wait_until_serving(url: str, proc: subprocess.Popen, seconds: float) -> bool:
    """Whether `url` answers within `seconds`; False early if the process has exited."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.3)
    return False
