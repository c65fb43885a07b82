"""
Interactive WebSocket client: ``python -m websockets_fast ws://host:port/path``.

Lines typed on standard input are sent as text messages; messages received
are printed as ``< message`` (binary ones as ``< (binary) hex``). End of input
(^D) or ^C closes the connection; so does the server. The same command line as
``python -m websockets``.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import threading
from typing import Any

from .exceptions import ConnectionClosed
from .frames import Close
from .sync.client import ClientConnection, connect
from .version import version

__all__ = ["main"]

# Control characters (C0, DEL, C1) would drive the terminal: show them escaped.
_CONTROL_CHARACTERS = {code: repr(chr(code))[1:-1] for code in [*range(32), *range(127, 160)]}


def escape(text: str) -> str:
    """Return ``text`` with control characters escaped, safe to print on a terminal."""
    return text.translate(_CONTROL_CHARACTERS)


class _Console:
    """Writes lines to standard output, above the ``> `` prompt on a terminal."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        # The receiving and the reading threads both write.
        self.lock = threading.Lock()

    def read_line(self) -> str:
        """One line of input with its newline; empty at the end of input."""
        if self.interactive:
            try:
                # input() has line editing where readline is available.
                return input("> ") + "\n"
            except EOFError:
                return ""
        return sys.stdin.readline()

    def show(self, line: str) -> None:
        with self.lock:
            if self.interactive:
                # Erase the prompt line, print, then draw the prompt again.
                # Text typed but not yet sent stays in the terminal's buffer.
                sys.stdout.write(f"\r\x1b[K{line}\n> ")
            else:
                sys.stdout.write(f"{line}\n")
            sys.stdout.flush()

    def finish(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(f"\r\x1b[K{line}\n" if self.interactive else f"{line}\n")
            sys.stdout.flush()


def _print_incoming(connection: ClientConnection, console: _Console, done: threading.Event) -> None:
    try:
        for message in connection:
            if isinstance(message, str):
                console.show("< " + escape(message))
            else:
                console.show("< (binary) " + message.hex())
    except ConnectionClosed:
        pass
    finally:
        done.set()


def _send_outgoing(connection: ClientConnection, console: _Console, done: threading.Event) -> None:
    try:
        while True:
            line = console.read_line()
            if not line:
                break  # end of input
            connection.send(line.rstrip("\r\n"))
    except ConnectionClosed:
        pass
    finally:
        done.set()


def interactive_client(uri: str, **kwargs: Any) -> int:
    """Run the client until either side closes; return the exit status."""
    try:
        connection = connect(uri, **kwargs)
    except Exception as exc:
        print(f"Failed to connect to {uri}: {exc}.")
        return 1
    print(f"Connected to {uri}.")
    console = _Console(sys.stdin.isatty() and sys.stdout.isatty())
    done = threading.Event()
    receiver = threading.Thread(target=_print_incoming, args=(connection, console, done), daemon=True)
    # Daemon: a thread blocked reading standard input cannot be stopped, and
    # must not keep the process alive once the server has closed.
    reader = threading.Thread(target=_send_outgoing, args=(connection, console, done), daemon=True)
    receiver.start()
    reader.start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    connection.close()
    receiver.join()
    # close() has returned: the close code is known.
    assert connection.close_code is not None
    close = Close(connection.close_code, connection.close_reason or "")
    console.finish(f"Connection closed: {escape(str(close))}.")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m websockets_fast``."""
    parser = argparse.ArgumentParser(
        prog="websockets_fast", description="Interactive WebSocket client.", add_help=False
    )
    parser.add_argument("--help", action="store_true", help="show usage and exit")
    parser.add_argument("--insecure", action="store_true", help="disable TLS certificate verification")
    parser.add_argument("--version", action="store_true", help="show version and exit")
    parser.add_argument("uri", metavar="<uri>", nargs="?")
    args = parser.parse_args(argv)
    if args.help:
        parser.print_usage()
        sys.exit(0)
    if args.version:
        print(f"websockets_fast {version}")
        sys.exit(0)
    if args.uri is None:
        parser.print_usage()
        sys.exit(2)
    try:
        import readline  # noqa: F401 (line editing for input, where available)
    except ImportError:
        pass
    kwargs = {}
    if args.insecure and args.uri.startswith("wss://"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        kwargs["ssl"] = context
    sys.exit(interactive_client(args.uri, **kwargs))
