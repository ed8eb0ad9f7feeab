"""The capped peer runs of ``benchmarks/discovery_scaling.py``: a worker that reaches its CPU
cap is stopped, its CPU time counted from its START line, and its Python stack kept."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

discovery_scaling = pytest.importorskip("discovery_scaling")

SPIN = """
import faulthandler, signal, sys
faulthandler.register(signal.SIGXCPU, file=sys.stderr, all_threads=True)
sum(range(3_000_000))  # CPU before START does not count
print("START", flush=True)
def spin_forever():
    while True:
        pass
spin_forever()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_at_its_cpu_cap_is_stopped_with_its_stack():
    out, err, state = discovery_scaling.run_capped(
        [sys.executable, "-c", SPIN], cpu_cap=1.5, wall_cap=120, memory_cap_gb=1.0
    )
    assert state["stopped_by"] == "CPU-time cap"
    assert 1.5 <= state["cpu_seconds"] < 10
    assert state["cpu_at_start"] > 0 and state["returncode"] != 0
    assert "START" in out
    assert any("spin_forever" in line for line in discovery_scaling.first_dump(err))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_that_finishes_is_not_stopped():
    out, _, state = discovery_scaling.run_capped(
        [sys.executable, "-c", "print('START'); print('RESULT {}')"],
        cpu_cap=60,
        wall_cap=120,
        memory_cap_gb=1.0,
    )
    assert state["stopped_by"] is None and state["returncode"] == 0
    assert out.splitlines()[-1] == "RESULT {}"
