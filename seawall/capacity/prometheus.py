"""Prometheus' HTTP API: range queries, and the queries capacity planning asks (node_exporter's metrics,
with the labels Seawall's scrape configuration gives every target: environment, service, host).

An answer is data, not truth: it must be a matrix of numbers inside the queried range (NaN and ±Inf, which
Prometheus sends for 0/0 and the like, are gaps), and it must be complete by its deadline (one query's,
within the command's), however slowly its bytes arrive."""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from seawall.errors import SeawallError
from seawall.monitoring.prometheus import PSEUDO_FILESYSTEMS, VIRTUAL_DEVICES

QUERY_SECONDS = 120.0  # one query's deadline, within the command's (--timeout)


class PrometheusError(SeawallError):
    """Prometheus cannot be reached, refused a query, answered too late or with what is not a range query's
    answer (exit 2: nothing could be measured)."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its points (unix seconds, value)."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


def queries(env_name: str) -> dict[str, str]:
    """Given an environment, return the range queries of its utilisation, by what they measure."""
    sel = f'environment="{env_name}"'
    # The file systems and network devices the alert rules leave out, left out here too.
    disks = f'{sel},fstype!~"{PSEUDO_FILESYSTEMS}"'
    nics = f'{sel},device!~"{VIRTUAL_DEVICES}"'
    return {
        "cpu": f'100 * (1 - avg by (host, service) (rate(node_cpu_seconds_total{{{sel},mode="idle"}}[5m])))',
        "memory": (
            f"100 * (1 - max by (host, service) (node_memory_MemAvailable_bytes{{{sel}}}) "
            f"/ max by (host, service) (node_memory_MemTotal_bytes{{{sel}}}))"
        ),
        "disk_size": f"max by (host, service, mountpoint) (node_filesystem_size_bytes{{{disks}}})",
        "disk_avail": f"max by (host, service, mountpoint) (node_filesystem_avail_bytes{{{disks}}})",
        "network_receive": f"sum by (host, service) (rate(node_network_receive_bytes_total{{{nics}}}[5m])) * 8 / 1e6",
        "network_transmit": f"sum by (host, service) (rate(node_network_transmit_bytes_total{{{nics}}}[5m])) * 8 / 1e6",
    }


@dataclass(frozen=True)
class Deadline:
    """The moment (``time.monotonic()``) by which an answer must be complete, what set it and what to do
    when it passes (both said in the error)."""

    at: float
    what: str
    hint: str = "narrow --window"

    @classmethod
    def after(cls, seconds: float, what: str, hint: str = "narrow --window") -> Deadline:
        """Given seconds from now, what sets them and what to do when they pass, return that deadline."""
        return cls(time.monotonic() + seconds, what, hint)

    def remaining(self) -> float:
        """Return the seconds left (zero or less: it has passed)."""
        return self.at - time.monotonic()

    def sooner(self, other: Deadline) -> Deadline:
        """Given another deadline, return whichever comes first."""
        return self if self.at <= other.at else other


def query_deadline(command: Deadline) -> Deadline:
    """Given the command's deadline, return one query's: QUERY_SECONDS from now, or the command's if sooner."""
    return command.sooner(Deadline.after(QUERY_SECONDS, f"one query's {QUERY_SECONDS:.0f} s"))


def range_query(base_url: str, query: str, start: float, end: float, step: float, deadline: Deadline) -> list[Series]:
    """Given Prometheus' address, a query and the deadline of its answer, return the query's series over
    [start, end] every ``step`` seconds (samples that are NaN or infinite are left out: gaps)."""
    parameters = urllib.parse.urlencode({
        "query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}",
        "timeout": f"{max(1, math.ceil(deadline.remaining()))}s",  # Prometheus stops evaluating when we stop waiting
    })  # fmt: skip
    raw = _answer(base_url, f"{base_url.rstrip('/')}/api/v1/query_range?{parameters}", query, deadline)
    try:
        body = json.loads(raw)
    except ValueError:
        msg = f"{base_url} did not answer as Prometheus' HTTP API does (no JSON): check --prometheus"
        raise PrometheusError(msg) from None
    if isinstance(body, dict) and body.get("status") != "success":
        msg = f"Prometheus at {base_url} failed a query: {_line(body.get('error', 'no reason given'))}; query: {query}"
        raise PrometheusError(msg)
    return parse_matrix(body, base_url, query, start, end)


def _answer(base_url: str, url: str, query: str, deadline: Deadline) -> bytes:
    """Given a query's URL, return the body of Prometheus' successful answer, or raise PrometheusError
    saying what went wrong on the way."""
    try:
        status, raw = _get(url, deadline)
    except _Late:
        msg = (
            f"Prometheus at {base_url} sent no complete answer within {deadline.what}: check that it is not "
            f"overloaded, or {deadline.hint}; query: {query}"
        )
        raise PrometheusError(msg) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        msg = (
            f"cannot reach Prometheus at {base_url}: {reason}; check --prometheus (or monitoring.host) and that it runs"
        )
        raise PrometheusError(msg) from None
    except (OSError, http.client.HTTPException) as exc:
        msg = f"Prometheus at {base_url} broke off its answer ({type(exc).__name__}: {exc}): try again; query: {query}"
        raise PrometheusError(msg) from None
    if status != HTTPStatus.OK:
        msg = f"Prometheus at {base_url} refused a query ({status}: {_error_of(raw)}); query: {query}"
        raise PrometheusError(msg)
    return raw


def parse_matrix(body: object, base_url: str, query: str, start: float, end: float) -> list[Series]:
    """Given a range query's decoded answer, return its series, samples in time order (a NaN or infinite
    sample, which Prometheus sends for 0/0 and the like, is left out: a gap), or raise PrometheusError
    naming the query when the answer is not a matrix of numbers within [start, end]."""
    try:
        return [_series(item, start, end) for item in _result(body)]
    except _Malformed as exc:
        msg = (
            f"Prometheus at {base_url} sent what is not a range query's answer ({exc}): check that --prometheus "
            f"is Prometheus' own address; query: {query}"
        )
        raise PrometheusError(msg) from None


class _Malformed(Exception):
    """What is wrong with an answer's shape (said inside the PrometheusError)."""


class _Late(Exception):
    """The deadline passed before the answer was complete."""


def _result(body: object) -> list[object]:
    if not isinstance(body, dict):
        raise _Malformed("not a JSON object")
    data = body.get("data")
    if data is None:
        raise _Malformed("no data")
    if not isinstance(data, dict):
        raise _Malformed("data that is not an object")
    if data.get("resultType") != "matrix":
        raise _Malformed(f"resultType {_shown(data.get('resultType'))}, not 'matrix'")
    result = data.get("result")
    if not isinstance(result, list):
        raise _Malformed("a result that is not a list")
    return result


def _series(item: object, start: float, end: float) -> Series:
    if not isinstance(item, dict) or not isinstance(item.get("values"), list):
        raise _Malformed("a series without values")
    labels = item.get("metric", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise _Malformed("labels that are not text")
    points = [_point(pair, start, end) for pair in item["values"]]
    return Series(dict(labels), sorted(point for point in points if math.isfinite(point[1])))


def _point(pair: object, start: float, end: float) -> tuple[float, float]:
    if not isinstance(pair, list) or len(pair) != 2:
        raise _Malformed(f"{_shown(pair)} is not a [time, value] pair")
    moment, value = pair
    if isinstance(moment, bool) or not isinstance(moment, int | float):
        raise _Malformed(f"{_shown(moment)} is not a time")
    if not start - 1 <= moment <= end + 1:
        raise _Malformed(f"a sample at {moment:g}, outside the queried range")
    return float(moment), _number(value)


def _number(value: object) -> float:
    """Prometheus sends a sample as text ("1.5", "NaN", "+Inf"); a JSON number is taken too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    raise _Malformed(f"{_shown(value)} is not a number")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _get(url: str, deadline: Deadline) -> tuple[int, bytes]:
    """Given a URL, return its answer's status and body (an HTTP error's too), or raise _Late once the
    deadline passes: the socket's timeout bounds each read, and a watchdog shuts the socket down at the
    deadline, so that an answer trickling in a byte at a time ends too."""
    cutoff = _Cutoff(deadline)
    opener = urllib.request.build_opener(_HTTPHandler(cutoff), _HTTPSHandler(cutoff))
    try:
        if deadline.remaining() <= 0:
            raise _Late
        try:
            with opener.open(url, timeout=deadline.remaining()) as response:
                status, raw = int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                status, raw = exc.code, exc.read()
    except (OSError, http.client.HTTPException) as exc:
        if cutoff.fired or _timed_out(exc):
            raise _Late from None
        raise
    finally:
        cutoff.cancel()
    if cutoff.fired:  # the answer may look complete, cut at the deadline
        raise _Late
    return status, raw


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)


class _Cutoff:
    """Shuts the sockets it watches down when the deadline passes (any read blocked on them returns)."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.fired = False
        self._timers: list[threading.Timer] = []

    def watch(self, sock: socket.socket) -> None:
        timer = threading.Timer(max(0.0, self.deadline.remaining()), self._cut, (sock,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()

    def _cut(self, sock: socket.socket) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, cutoff: _Cutoff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cutoff = cutoff

    def connect(self) -> None:
        super().connect()
        self.cutoff.watch(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, cutoff: _Cutoff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cutoff = cutoff

    def connect(self) -> None:
        super().connect()  # TCP, then TLS: the watched socket is the TLS one
        self.cutoff.watch(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, cutoff: _Cutoff) -> None:
        super().__init__()
        self.cutoff = cutoff

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPConnection, cutoff=self.cutoff), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, cutoff: _Cutoff) -> None:
        super().__init__()
        self.cutoff = cutoff

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPSConnection, cutoff=self.cutoff)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


def _error_of(raw: bytes) -> str:
    try:
        reason = json.loads(raw).get("error", "no reason given")
    except (ValueError, AttributeError):
        reason = raw.decode(errors="replace")[:200] or "no reason given"
    return _line(reason)


def _line(text: object) -> str:
    """Given what an answer says, return it as one line of at most 200 characters."""
    return " ".join(str(text).split())[:200]


def check_url(url: str) -> str:
    """Given a Prometheus address, return it, or raise PrometheusError when it is not http(s)."""
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        msg = f"--prometheus {url!r} is not an http:// or https:// address"
        raise PrometheusError(msg)
    return url
