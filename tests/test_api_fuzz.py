"""The public API under random bad input (tests/api_fuzz.py), run in a subprocess.

A segfault, an abort ("double free or corruption") or any other death of the
interpreter is reported as a failure naming the signal and the last call made,
instead of taking pytest down with it.
"""
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_isolated(cmd, log, timeout=600):
    """Run cmd (from the repository root); return (returncode, output), or fail the test with
    the signal and the last line of log when the process was killed by one."""
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if p.returncode < 0:
        lines = log.read_text().splitlines() if log.exists() else []
        name = signal.Signals(-p.returncode).name
        pytest.fail(f"the interpreter died of {name}; last call: {lines[-1] if lines else '(none logged)'}\n"
                    f"{p.stderr[-2000:]}", pytrace=False)
    return p.returncode, p.stdout + p.stderr


def test_public_api_survives_random_input(tmp_path):
    log = tmp_path / "calls.log"
    code, out = run_isolated([sys.executable, "-m", "tests.api_fuzz", str(log)], log)
    assert code == 0, out[-6000:]
    assert "all properties held" in out
    assert len(log.read_text().splitlines()) >= 7 * 300       # 7 properties x 300 examples were run


def test_a_crash_is_reported_not_fatal(tmp_path):
    """The harness itself: a process that logs a call and then segfaults fails the test cleanly."""
    log = tmp_path / "calls.log"
    crash = (f"open({str(log)!r}, 'w').write('the call that crashed\\n');"
             "import ctypes; ctypes.string_at(0)")
    with pytest.raises(pytest.fail.Exception, match="died of SIGSEGV; last call: the call that crashed"):
        run_isolated([sys.executable, "-X", "faulthandler=0", "-c", crash], log)
