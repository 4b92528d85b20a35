"""Slow and greedy clients (issue 9): a client that trickles its headers or its
body, or opens connection after connection, must not hold the server.

The server cuts a connection whose headers are not complete within
--header-timeout, or whose body falls behind --body-timeout plus one second
per --body-min-rate bytes; and drops connections past
--max-connections-per-client from one address at once.  Every loop is bounded
by a time limit; only 127.0.0.1 is used.
"""

import select
import socket
import time

import requests

from conftest import assert_ok


def closed_by_server(s, timeout):
    """True when the server closes s within timeout seconds (we send nothing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            try:
                if s.recv(4096) == b"":
                    return True
            except OSError:
                return True
    return False


def trickle(s, data, every, limit):
    """Send data a byte at a time, every `every` seconds, for at most `limit`
    seconds.  Returns the seconds until the server closed the connection, or
    None when it never did."""
    t0 = time.monotonic()
    for b in data:
        if time.monotonic() - t0 > limit:
            return None
        try:
            s.sendall(bytes([b]))
        except OSError:
            return time.monotonic() - t0
        if closed_by_server(s, every):
            return time.monotonic() - t0
    return None


def metric(srv, name):
    text = requests.get(srv.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_trickled_headers_are_cut(mw_factory):
    srv = mw_factory(extra_args=["--header-timeout", "2"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        took = trickle(s, b"X-Slow: " + b"a" * 200, 0.25, 15)
    finally:
        s.close()
    assert took is not None, "a client trickling its headers kept its connection for 15 s"
    assert took < 8
    assert requests.get(srv.url + "/health", timeout=10).status_code == 200
    assert metric(srv, "mw_http_slow_client_disconnects_total") >= 1


def test_idle_keepalive_connection_is_closed(mw_factory):
    srv = mw_factory(extra_args=["--header-timeout", "2"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        assert data.startswith(b"HTTP/1.1 200")
        # nothing more from us: the idle connection goes after the timeout
        assert closed_by_server(s, 10)
    finally:
        s.close()


def test_trickled_body_is_cut(mw_factory):
    srv = mw_factory(extra_args=["--body-timeout", "2", "--body-min-rate", "1000"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n")
        took = trickle(s, b"{" + b" " * 9998 + b"}", 0.2, 15)
    finally:
        s.close()
    assert took is not None, "a client trickling its body kept its connection for 15 s"
    assert took < 8
    assert requests.get(srv.url + "/health", timeout=10).status_code == 200


def test_a_slow_but_steady_upload_is_not_cut(mw_factory):
    """The deadline grows with what arrives: 32 KiB/s against a 1 s timeout
    and a 1000 bytes/s minimum takes 2 s and succeeds."""
    srv = mw_factory(extra_args=["--body-timeout", "1", "--body-min-rate", "1000"])
    chunk = b"x" * 8192

    def body():
        for _ in range(8):
            yield chunk
            time.sleep(0.25)

    r = srv.session.put(srv.url + "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/slow.bin",
                        data=body(), timeout=30)
    assert assert_ok(r) == {}
    got = srv.session.get(srv.url + "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/slow.bin",
                          timeout=30)
    assert got.content == chunk * 8


def test_connections_per_client_are_capped(mw_factory):
    srv = mw_factory(extra_args=["--max-connections-per-client", "8"])
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(8)]
    try:
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            # accepted by the kernel, dropped by the server at once
            try:
                extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass
            assert closed_by_server(extra, 5)
        finally:
            extra.close()
        # the connections it holds still work
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += held[0].recv(4096)
        assert data.startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
    # once they are gone, new connections are served again
    deadline = time.monotonic() + 10
    while True:
        try:
            r = requests.get(srv.url + "/health", timeout=2)
            if r.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "no connection accepted after the others closed"
        time.sleep(0.1)
