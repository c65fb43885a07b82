"""Sans-I/O protocol microbenchmark: websockets_fast vs websockets, same run.

    python bench/bench_protocol.py [--full]

Workloads, each on a server-side protocol created with ``state=OPEN`` (and
one on a client-side one, whose frames are masked):
- receive: parse and deliver 10,000 masked 64-byte text messages, all bytes
  fed in one call (a pipelined burst) or one message per call;
- send: serialize 10,000 64-byte text messages;
each without compression and with permessage-deflate negotiated with the
default settings of both libraries (12-bit windows, memLevel 5).

Also measures the memory a connection holds for permessage-deflate
(tracemalloc: zlib allocates through PyMem): negotiated but idle, after one
message each way with context takeover, and with no_context_takeover.
``run(quick)`` returns the rows; the script prints them as a table.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import websockets.client as ws_client
import websockets.server as ws_server
from websockets.extensions import permessage_deflate as ws_pmd
from websockets.protocol import State as WsState

from websockets_fast import speedups
from websockets_fast.extensions import permessage_deflate as pmd
from websockets_fast.protocol import OPEN
from websockets_fast.server import ServerProtocol

MESSAGES = 10_000
SIZE = 64


def _payloads():
    # Distinct messages, so that deflate does not see one string repeated.
    return [(f"message {i:08d} " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2)[:SIZE].encode() for i in range(MESSAGES)]


def _client_extension():
    """websockets' client side of the default permessage-deflate negotiation."""
    factory = ws_pmd.ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})
    (server_factory,) = ws_pmd.enable_server_permessage_deflate(None)
    params, _ = server_factory.process_request_params(factory.get_request_params(), [])
    return factory.process_response_params(params, [])


def _client_bytes(deflate):
    """What a websockets client sends for the messages: one bytes object per message."""
    client = ws_client.ClientProtocol(_uri(), state=WsState.OPEN)
    if deflate:
        client.extensions = [_client_extension()]
    out = []
    for payload in _payloads():
        client.send_text(payload)
        (data,) = client.data_to_send()
        out.append(data)
    return out


def _uri():
    from websockets.uri import parse_uri

    return parse_uri("ws://127.0.0.1/")


def _client(lib, deflate):
    """A client-side protocol of ``lib`` in state OPEN (it masks what it sends)."""
    if lib == "websockets_fast":
        from websockets_fast.client import ClientProtocol
        from websockets_fast.uri import parse_uri

        protocol = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=OPEN)
        if deflate:
            protocol.extensions = [pmd.PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})]
    else:
        protocol = ws_client.ClientProtocol(_uri(), state=WsState.OPEN)
        if deflate:
            protocol.extensions = [ws_pmd.PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})]
    return protocol


def _server(lib, deflate):
    """A server-side protocol of ``lib`` in state OPEN, perhaps with deflate."""
    offer = ws_pmd.ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}).get_request_params()
    if lib == "websockets_fast":
        protocol = ServerProtocol(state=OPEN)
        if deflate:
            (factory,) = pmd.enable_server_permessage_deflate(None)
            protocol.extensions = [factory.process_request_params(offer, [])[1]]
    else:
        protocol = ws_server.ServerProtocol(state=WsState.OPEN)
        if deflate:
            (factory,) = ws_pmd.enable_server_permessage_deflate(None)
            protocol.extensions = [factory.process_request_params(offer, [])[1]]
    return protocol


def _receive_batch(protocol, chunks):
    protocol.receive_data(b"".join(chunks))
    events = protocol.events_received()
    assert len(events) == MESSAGES, len(events)


def _receive_each(protocol, chunks):
    receive_data, events_received = protocol.receive_data, protocol.events_received
    count = 0
    for chunk in chunks:
        receive_data(chunk)
        count += len(events_received())
    assert count == MESSAGES


def _send(protocol, payloads):
    send_text, data_to_send = protocol.send_text, protocol.data_to_send
    for payload in payloads:
        send_text(payload)
    assert len(data_to_send()) == MESSAGES


def _send_masked(protocol, payloads):
    _send(protocol, payloads)


def _best_times(deflate, work, arg, repeats):
    """Best time of ``work`` for each library; runs alternate, so that noise
    from other processes on the machine hits both alike."""
    best = {"websockets_fast": float("inf"), "websockets": float("inf")}
    for _ in range(repeats):
        for lib in best:
            protocol = (_client if work is _send_masked else _server)(lib, deflate)
            gc.collect()
            start = time.perf_counter()
            work(protocol, arg)
            best[lib] = min(best[lib], time.perf_counter() - start)
    return best["websockets_fast"], best["websockets"]


def speed_rows(quick):
    repeats = 5 if quick else 15
    payloads = _payloads()
    rows = []
    for deflate in (False, True):
        chunks = _client_bytes(deflate)
        for name, work, arg in (
            ("receive 10k, one batch", _receive_batch, chunks),
            ("receive 10k, one per call", _receive_each, chunks),
            ("send 10k", _send, payloads),
            ("client send 10k (masked)", _send_masked, payloads),
        ):
            ours, theirs = _best_times(deflate, work, arg, repeats)
            rows.append(
                {
                    "workload": name + (" +deflate" if deflate else ""),
                    "websockets_fast µs/msg": ours / MESSAGES * 1e6,
                    "websockets µs/msg": theirs / MESSAGES * 1e6,
                    "ratio": theirs / ours,
                }
            )
    return rows


def _held(make):
    """Bytes allocated by ``make()`` and still held while its result lives."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return held


def _deflate_connection(lib, no_context_takeover, exchange):
    """A server protocol with the default deflate settings, after ``exchange``."""
    factory_kwargs = dict(server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5})
    if no_context_takeover:
        factory_kwargs.update(server_no_context_takeover=True, client_no_context_takeover=True)
    offer = ws_pmd.ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}).get_request_params()
    if lib == "websockets_fast":
        protocol = ServerProtocol(state=OPEN)
        params, ext = pmd.ServerPerMessageDeflateFactory(**factory_kwargs).process_request_params(offer, [])
    else:
        protocol = ws_server.ServerProtocol(state=WsState.OPEN)
        params, ext = ws_pmd.ServerPerMessageDeflateFactory(**factory_kwargs).process_request_params(offer, [])
    protocol.extensions = [ext]
    if exchange:
        client = ws_client.ClientProtocol(_uri(), state=WsState.OPEN)
        client.extensions = [
            ws_pmd.ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}).process_response_params(params, [])
        ]
        client.send_text(b"hello, compressed world! " * 4)
        for data in client.data_to_send():
            protocol.receive_data(data)
        protocol.events_received()
        protocol.send_text(b"hello to you too " * 4)
        protocol.data_to_send()
    return protocol


def memory_rows():
    rows = []
    for label, nct, exchange in (
        ("deflate negotiated, idle", False, False),
        ("after 1 message each way, context takeover", False, True),
        ("after 1 message each way, no_context_takeover", True, True),
    ):
        row = {"memory per connection": label}
        for lib in ("websockets_fast", "websockets"):
            row[f"{lib} bytes"] = min(_held(lambda: _deflate_connection(lib, nct, exchange)) for _ in range(3))
        rows.append(row)
    row = {"memory per connection": "no compression, idle"}
    row["websockets_fast bytes"] = min(_held(lambda: ServerProtocol(state=OPEN)) for _ in range(3))
    row["websockets bytes"] = min(_held(lambda: ws_server.ServerProtocol(state=WsState.OPEN)) for _ in range(3))
    rows.append(row)
    return rows


def run(quick: bool) -> list[dict]:
    """Run the benchmark; ``quick`` uses fewer repeats. Returns table rows."""
    return speed_rows(quick) + memory_rows()


def _print(rows):
    for group in (
        [r for r in rows if "workload" in r],
        [r for r in rows if "memory per connection" in r],
    ):
        keys = list(dict.fromkeys(k for row in group for k in row))
        cells = [[_cell(row.get(k)) for k in keys] for row in group]
        widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
        print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
        for c in cells:
            print("  ".join(v.ljust(w) for v, w in zip(c, widths)))
        print()


def _cell(value):
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


if __name__ == "__main__":
    print(f"backend: {speedups.BACKEND}; {MESSAGES} messages of {SIZE} bytes; Python {sys.version.split()[0]}\n")
    _print(run(quick="--full" not in sys.argv))
