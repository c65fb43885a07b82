"""Echo server for the Autobahn|Testsuite server role (wstest -m fuzzingclient).

Echoes every message it receives, text as text and binary as binary, on every
connection, with compression (permessage-deflate) enabled and ``max_size``
raised to the suite's largest message (16 MiB, in cases 9.1.6 and 9.2.6).

It listens on 127.0.0.1, on the port given (0, the default, picks a free one),
prints one line ``LISTENING <host> <port> <library> <impl> <backend>`` on
standard output once it accepts connections, and stops cleanly on SIGTERM or
SIGINT (exit status 0).

    python compliance/echo_server.py [--lib websockets_fast|websockets]
                                     [--impl asyncio|sync|legacy] [--port N]

The same program runs on the reference library (``--lib websockets``): the
two libraries share one API, so that is how this harness is validated and how
its baseline is measured. ``WEBSOCKETS_FAST_PURE=1`` in the environment selects
the pure-Python backend of websockets_fast.
"""

import argparse
import asyncio
import importlib
import logging
import signal
import sys
import threading
import warnings

# The suite's largest messages (cases 9.1.6 and 9.2.6) are exactly 16 MiB and
# must be echoed: the limit is set at that size, which also checks that a
# message of exactly max_size bytes is accepted.
MAX_SIZE = 2**24
HOST = "127.0.0.1"


def backend_name(lib):
    """Which hot-path backend the library under test is running on."""
    if lib == "websockets_fast":
        return importlib.import_module("websockets_fast.speedups").BACKEND
    return "reference"


def announce(port, args):
    print(
        f"LISTENING {HOST} {port} {args.lib} {args.impl} {backend_name(args.lib)}",
        flush=True,
    )


def import_legacy(name):
    """A module of the legacy implementation, without its deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


def run_asyncio(args):
    if args.impl == "legacy":
        # The legacy implementation has the same serve() arguments here.
        server_module = import_legacy(f"{args.lib}.legacy.server")
    else:
        server_module = importlib.import_module(f"{args.lib}.asyncio.server")
    closed = importlib.import_module(f"{args.lib}.exceptions").ConnectionClosed

    async def echo(websocket):
        try:
            async for message in websocket:
                await websocket.send(message)
        except closed:
            # The suite ends many cases by breaking the protocol on purpose.
            pass

    async def main():
        stop = asyncio.get_running_loop().create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(
                signum, lambda: stop.done() or stop.set_result(None)
            )
        async with server_module.serve(
            echo,
            HOST,
            args.port,
            max_size=MAX_SIZE,
            compression="deflate",
            ping_interval=None,  # the suite checks every frame: send only echoes
        ) as server:
            announce(server.sockets[0].getsockname()[1], args)
            await stop
            server.close()
            await asyncio.wait_for(server.wait_closed(), 30)

    asyncio.run(main())


def run_sync(args):
    server_module = importlib.import_module(f"{args.lib}.sync.server")
    closed = importlib.import_module(f"{args.lib}.exceptions").ConnectionClosed

    def echo(websocket):
        try:
            for message in websocket:
                websocket.send(message)
        except closed:
            pass

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    with server_module.serve(
        echo,
        HOST,
        args.port,
        max_size=MAX_SIZE,
        compression="deflate",
        ping_interval=None,
    ) as server:
        # serve_forever() blocks the thread that runs it; the main thread
        # stays free to receive the signal and call shutdown().
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        announce(server.socket.getsockname()[1], args)
        while not stop.wait(1):
            if not thread.is_alive():
                sys.exit("echo_server: serve_forever() returned unexpectedly")
        server.shutdown()
        thread.join(30)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lib",
        default="websockets_fast",
        choices=["websockets_fast", "websockets"],
        help="library under test (default: websockets_fast)",
    )
    parser.add_argument(
        "--impl",
        default="asyncio",
        choices=["asyncio", "sync", "legacy"],
        help="I/O implementation (default: asyncio)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port (default: 0, a free one)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="log the library's debug messages"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if args.impl in ("asyncio", "legacy"):
        run_asyncio(args)
    else:
        run_sync(args)


if __name__ == "__main__":
    main()
