"""Shared fixtures, the hermetic guard, hypothesis profiles and the `slow` marker.

Every test runs hermetically (see ``hermetic``): the data cache points at a
fresh temporary directory and sockets may only reach loopback servers that
the test itself started.  Hypothesis profiles: "ci" (derandomised, no
example database; the default when $CI is set and in ``make test``), "dev"
(the default otherwise) and "thorough" (``--hypothesis-profile=thorough``).
"""
import ipaddress
import os
import socket

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: Tests marked `slow` (skipped by ``make test``, run by ``make test-slow`` and
#: ``make test-all``): whole CLI runs in a subprocess, trainings of many epochs, and
#: the largest numerical-gradient comparisons.  Each took 2-50 s on the 2-core machine
#: (``pytest --durations=40``); together about three quarters of the suite's time.
#: Matched against the test id without parameters, or with them where only some are slow.
SLOW = {
    "tests/test_numgrad_kernels.py::test_incremental_matches_full_on_mnist[sigmoid-300-100]",
    "tests/test_cli_train.py::test_train_writes_results_and_evaluate_reads_them",
    "tests/test_cli_train.py::test_interrupt_then_resume_equals_one_run",
    "tests/test_cli_train.py::test_subprocess_bad_option_exits_2",
    "tests/test_cli_train.py::test_subprocess_ctrl_c_saves_a_checkpoint",
    "tests/test_cli_train.py::test_fashion_mnist",
    "tests/test_cli_reference.py::test_bench_smoke_run",
    "tests/test_cli_reference.py::test_console_script_in_a_subprocess",
    "tests/test_experiments.py::test_optimizers_book",
    "tests/test_experiments.py::test_init_book",
    "tests/test_experiments.py::test_batchnorm_book",
    "tests/test_experiments.py::test_weight_decay_and_dropout_book",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        base = item.nodeid.split("[", 1)[0]
        if item.nodeid in SLOW or base in SLOW:
            item.add_marker(pytest.mark.slow)


# -- hermetic runs --------------------------------------------------------------
class NetworkForbidden(OSError):
    """A test tried to reach a host other than a loopback server it started."""


def _is_loopback(host):
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory, monkeypatch):
    """The data cache in a fresh temporary directory; sockets limited to loopback ports
    that were bound in this test (a server the test started).  Child processes inherit
    the cache variables; they must not use the network either (they load bundled or
    generated data only)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("FASTNN_DATA_DIR", str(cache / "fastnn"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache / "xdg"))
    bound = set()
    real_bind, real_connect, real_connect_ex = (socket.socket.bind, socket.socket.connect,
                                                socket.socket.connect_ex)
    real_getaddrinfo = socket.getaddrinfo

    def check(sock, address):
        if sock.family == socket.AF_UNIX:
            return
        host, port = address[0], address[1]
        if not (_is_loopback(host) and port in bound):
            raise NetworkForbidden(f"network access in a test: {address!r} (only loopback servers "
                                   f"the test started are allowed; bound: {sorted(bound)})")

    def bind(sock, address):
        real_bind(sock, address)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            bound.add(sock.getsockname()[1])

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not _is_loopback(name):
            raise NetworkForbidden(f"name lookup in a test: {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield cache


# -- common fixtures ----------------------------------------------------------------
@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures fastnn.plots saves during the test, in order (still saved)."""
    from fastnn import plots
    figures = []
    real = plots._save

    def keep(fig, path):
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures
