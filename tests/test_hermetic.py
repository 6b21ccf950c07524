"""The guard of tests/conftest.py: the data cache in a temporary directory, no network
except loopback servers started by the test, derandomised hypothesis in CI."""
import ast
import http.server
import os
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
from hypothesis import settings

from fastnn.datasets.mnist import default_cache_dir

from .conftest import NetworkForbidden


def test_data_cache_is_a_fresh_temporary_directory(hermetic):
    assert default_cache_dir() == hermetic / "fastnn" / "mnist"
    assert not default_cache_dir().exists()
    home_cache = Path.home() / ".cache" / "fastnn"
    assert not str(default_cache_dir()).startswith(str(home_cache))
    assert os.environ["XDG_CACHE_HOME"].startswith(str(hermetic))


@pytest.mark.parametrize("address", [("192.0.2.1", 80), ("10.0.0.1", 443), ("8.8.8.8", 53)])
def test_outside_addresses_are_refused(address):
    with socket.socket() as s, pytest.raises(NetworkForbidden, match="network access in a test"):
        s.connect(address)
    with socket.socket() as s, pytest.raises(NetworkForbidden):
        s.connect_ex(address)


def test_name_lookups_and_urls_are_refused():
    with pytest.raises(NetworkForbidden, match="name lookup"):
        socket.getaddrinfo("example.org", 80)
    with pytest.raises(OSError):                      # urllib wraps it in a URLError
        urllib.request.urlopen("http://example.org/", timeout=1)


def test_loopback_only_to_ports_bound_in_the_test():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
    # a loopback port that was not bound in this test is refused all the same
    never = port + 1 if port < 65535 else port - 1
    with socket.socket() as s, pytest.raises(NetworkForbidden):
        s.connect(("127.0.0.1", never))


def test_a_loopback_server_started_by_the_test_is_reachable():
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Hello)      # a port from the OS
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.read() == b"hello"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_hypothesis_ci_profile_is_derandomised():
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None
    assert settings.get_profile("thorough").max_examples >= 1000
    if os.environ.get("CI"):
        assert settings.default.derandomize


def test_no_test_module_imports_bench():
    for path in Path(__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not any(n == "bench" or n.startswith("bench.") for n in names), path.name
