"""
The permessage-deflate extension (RFC 7692), with the API of
``websockets.extensions.permessage_deflate``.

Memory and CPU are the costs of compression. Three policies keep them low;
each is legal for a sender or a receiver on its own, so the peer cannot tell
and interoperability is unaffected. docs/compression.md has the figures.

1. No idle decompressor. A zlib decompressor holds about 7 KiB of state plus
   its window (4 KiB at the default 12 bits). It lives only while a
   compressed message is being received. With context takeover, what the
   next message may refer to is the last ``2 ** remote_max_window_bits``
   bytes of inflated data, so that tail is kept as bytes and handed to the
   next decompressor as its dictionary (``zdict``): at most 4 KiB per idle
   connection instead of 11 KiB, for about 0.8 µs per message (more with
   15-bit windows, see docs/compression.md).

2. Lazy, exactly sized compressor. The compressor (window plus hash tables,
   about 38 KiB at 12 bits and memLevel 5) is created on the first message
   that is compressed, and dropped after each message when our side has
   no_context_takeover. With context takeover it is kept: rebuilding it
   from a dictionary would cost a few µs per message. When
   ``compress_settings`` gives no ``memLevel``, it follows the window:
   ``window bits - 7`` (5 for 12 bits, 8 for 15), so that the hash table
   has one bucket per window position and no more. An I/O layer may call
   :meth:`PerMessageDeflate.compact` when a connection goes idle: the
   compressor is then released too, and rebuilt from the last bytes it
   compressed (its dictionary) when the next message comes.

3. Cheap compression. The default level is 1 (zlib's fastest,
   ``compress_settings={"level": ...}`` overrides it), and a message that
   looks incompressible is sent uncompressed (RSV1 clear, which RFC 7692
   allows for any message). "Looks incompressible": from 1 KiB up, about
   256 bytes sampled across the payload take nearly as many distinct values
   as random bytes would. Deflating random bytes costs about 35 ns per byte
   and saves nothing; the sample costs 2 to 5 µs. Skipped messages are not
   seen by either side's zlib context, so context takeover stays in step.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import OP_CLOSE, OP_CONT, Frame
from ..typing import BytesLike, ExtensionName, ExtensionParameter
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = [
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "ServerPerMessageDeflateFactory",
    "enable_server_permessage_deflate",
]

# A sync flush ends with an empty stored block, 00 00 FF FF. RFC 7692 7.2.1
# has the sender strip it from the end of each message and the receiver
# append it back.
_SYNC_TAIL = b"\x00\x00\xff\xff"

# Below this size, appending the tail to the payload (a copy) is cheaper
# than a second decompress() call.
_SMALL_PAYLOAD = 2048

_Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH

_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

# zlib's level when compress_settings doesn't set one. Level 1 deflates
# JSON-like text about twice as fast as the default (6) for about 25% more
# output (docs/compression.md).
DEFAULT_LEVEL = 1

# Messages from this size up are sampled before being compressed; below it,
# the sample would cost too much next to the compression it might save.
_SAMPLE_FROM = 1024
# Bytes sampled, spread evenly over the payload.
_SAMPLE_SIZE = 256
# A sample of k random bytes holds about 256 * (1 - exp(-k / 256)) distinct
# values (162 for k = 256). A sample with at least this fraction of that is
# treated as random: 90% is more than 3 standard deviations below it, and far
# above text, JSON or base64 (under 70 distinct values in 256).
_RANDOM_FRACTION = 0.9
# The same on the first 64 samples, only to answer "compressible" early: 80%
# is 5 standard deviations below what random bytes give.
_QUICK_FRACTION = 0.8


def looks_incompressible(data: BytesLike) -> bool:
    """
    Tell, from a sample of ``data``, whether it looks like random bytes,
    which deflate cannot shrink.

    Args:
        data: a bytes-like payload of at least ``_SAMPLE_FROM`` bytes.
    """
    size = len(data) if isinstance(data, bytes) else memoryview(data).nbytes
    step = size // _SAMPLE_SIZE or 1
    # An odd step doesn't stay in phase with fixed-size binary records
    # (little-endian ints whose high bytes are zero, for example).
    step |= 1
    if isinstance(data, bytes):
        sample = data[::step]
    else:
        sample = bytes(memoryview(data).cast("B")[::step])
    # One-character strings hash faster than ints: a set of them is the
    # quickest way to count distinct bytes in pure Python.
    text = sample.decode("latin-1")
    # Text and JSON show it in the first 64 samples already (random bytes
    # give about 57 distinct values there, with a standard deviation of 2.3):
    # answer at a quarter of the cost.
    if len(set(text[:64])) < _QUICK_FRACTION * _expected_distinct(min(len(text), 64)):
        return False
    return len(set(text)) >= _RANDOM_FRACTION * _expected_distinct(len(text))


def _expected_distinct(k: int) -> float:
    """How many distinct values k random bytes take, on average."""
    return 256.0 * (1.0 - math.exp(-k / 256.0))


def _last_bytes(window: bytes, data: BytesLike, size: int) -> bytes:
    """
    Return, as bytes, the last ``size`` bytes of ``window`` followed by
    ``data`` (a bytes-like object of single bytes).
    """
    excess = len(window) + len(data) - size
    if excess <= 0:
        return window + data
    if len(data) >= size:
        return bytes(data[-size:])
    # One copy, where concatenating then cutting would make two.
    return b"".join((memoryview(window)[excess:], data))


class PerMessageDeflate(Extension):
    """
    permessage-deflate on one connection, with the negotiated parameters.

    Args:
        remote_no_context_takeover: the peer resets its compressor after each
            message, so no inflated data is kept between messages.
        local_no_context_takeover: we reset our compressor after each
            message (it is dropped after each message).
        remote_max_window_bits: the peer's window size, 8 to 15 bits.
        local_max_window_bits: our window size, 9 to 15 bits (zlib cannot
            compress with an 8-bit raw deflate window).
        compress_settings: extra keyword arguments for
            :func:`zlib.compressobj` such as ``level`` or ``memLevel``,
            without ``wbits``; default none, meaning level
            :data:`DEFAULT_LEVEL` and memLevel ``local_max_window_bits - 7``.
    """

    name = ExtensionName("permessage-deflate")
    rsv_bits = 4  # RSV1 marks a compressed message; RSV2 and RSV3 are unused.

    __slots__ = (
        "remote_no_context_takeover",
        "local_no_context_takeover",
        "remote_max_window_bits",
        "local_max_window_bits",
        "compress_settings",
        "_decoder",
        "_encoder",
        "_decoding_message",
        "_encoding_message",
        "_window",
        "_sent",
    )

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: Optional[Dict[str, Any]] = None,
    ) -> None:
        if compress_settings is None:
            compress_settings = {}
        if not 8 <= remote_max_window_bits <= 15:
            raise ValueError("remote_max_window_bits must be between 8 and 15")
        if not 9 <= local_max_window_bits <= 15:
            raise ValueError("local_max_window_bits must be between 9 and 15")
        if "wbits" in compress_settings:
            raise ValueError("compress_settings must not include wbits")
        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = compress_settings
        # zlib objects, created on first use (see the module docstring).
        self._decoder: Any = None
        self._encoder: Any = None
        # True between the first and the last frame of a compressed
        # fragmented message, whose continuation frames must be inflated.
        self._decoding_message = False
        # The same on the way out: continuation frames follow the choice
        # (compress or not) made for the first frame.
        self._encoding_message = False
        # The last inflated bytes, up to the peer's window size, that the
        # next compressed message may refer to (context takeover).
        self._window = b""
        # The same for what we compress, once compact() has been called:
        # None until then, because keeping it costs a copy per message.
        self._sent: Optional[bytes] = None

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def decode(self, frame: Frame, *, max_size: Optional[int] = None) -> Frame:
        """
        Inflate an incoming data frame of a compressed message.

        Args:
            frame: the incoming frame.
            max_size: most bytes the inflated payload may hold; default
                :obj:`None`, no limit. Inflating stops one byte past it, so
                a small frame that would inflate to gigabytes (a "bomb")
                costs at most ``max_size`` + 1 bytes.

        Raises:
            ProtocolError: RSV1 on a control or continuation frame, or a
                payload that is not valid deflate data.
            PayloadTooBig: the inflated payload exceeds ``max_size``.
        """
        opcode = frame.opcode
        if opcode >= OP_CLOSE:
            if frame.rsv1:
                raise ProtocolError("RSV1 bit set in control frame")
            return frame
        if opcode == OP_CONT:
            if frame.rsv1:
                raise ProtocolError("RSV1 bit set in continuation frame")
            if not self._decoding_message:
                return frame  # part of a message sent uncompressed
            if frame.fin:
                self._decoding_message = False
        else:
            if not frame.rsv1:
                return frame  # RFC 7692 lets a sender skip compressing a message
            self._decoding_message = not frame.fin

        decoder = self._decoder
        if decoder is None:
            # The window of the previous messages, if any, is the new
            # decoder's dictionary: that is all the peer may refer to.
            if self._window:
                decoder = zlib.decompressobj(-self.remote_max_window_bits, self._window)
            else:
                decoder = zlib.decompressobj(-self.remote_max_window_bits)
            self._decoder = decoder
        # 0 means "no limit" to zlib.
        max_length = 0 if max_size is None else max_size + 1
        data = frame.data
        try:
            if frame.fin and len(data) < _SMALL_PAYLOAD:
                output = decoder.decompress(bytes(data) + _SYNC_TAIL, max_length)
            else:
                output = decoder.decompress(data, max_length)
                if frame.fin and (max_size is None or len(output) <= max_size):
                    rest = decoder.decompress(_SYNC_TAIL, 0 if max_size is None else max_length - len(output))
                    if rest:
                        output += rest
        except zlib.error as exc:
            raise ProtocolError("decompression failed") from exc
        if max_size is not None and len(output) > max_size:
            raise PayloadTooBig(None, max_size)

        if self.remote_no_context_takeover:
            if frame.fin:
                self._decoder = None
        elif decoder.eof:
            # The peer ended its deflate stream with a final block: the next
            # message starts a new one, with nothing to refer back to.
            self._window = b""
            if frame.fin:
                self._decoder = None
        else:
            if output:
                size = 1 << self.remote_max_window_bits
                self._window = _last_bytes(self._window, output, size)
            if frame.fin:
                self._decoder = None
        return Frame(opcode, output, frame.fin, False, frame.rsv2, frame.rsv3)

    def encode(self, frame: Frame) -> Frame:
        """
        Deflate an outgoing data frame; control frames pass unchanged, and
        so do the frames of a message that looks incompressible.
        """
        opcode = frame.opcode
        if opcode >= OP_CLOSE:
            return frame
        data = frame.data
        if opcode == OP_CONT:
            if not self._encoding_message:
                return frame  # part of a message sent uncompressed
        elif len(data) >= _SAMPLE_FROM and looks_incompressible(data):
            self._encoding_message = False
            return frame
        else:
            self._encoding_message = True
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = self._new_encoder()
        compressed = encoder.compress(data)
        # Small inputs stay inside zlib until the flush: skip a concatenation.
        if compressed:
            compressed += encoder.flush(_Z_SYNC_FLUSH)
        else:
            compressed = encoder.flush(_Z_SYNC_FLUSH)
        if frame.fin:
            # Strip the sync flush tail; a view avoids copying big payloads.
            if len(compressed) < _SMALL_PAYLOAD:
                compressed = compressed[:-4]
            else:
                compressed = memoryview(compressed)[:-4]
            if self.local_no_context_takeover:
                self._encoder = None
            self._encoding_message = False
        if self._sent is not None:
            size = 1 << self.local_max_window_bits
            if not isinstance(data, bytes):
                data = memoryview(data).cast("B")
            self._sent = _last_bytes(self._sent, data, size)
        # RSV1 marks the first frame of a compressed message only.
        return Frame(opcode, compressed, frame.fin, opcode != OP_CONT, frame.rsv2, frame.rsv3)

    def compact(self) -> None:
        """
        Release the compressor between messages, keeping only the last
        ``2 ** local_max_window_bits`` bytes it compressed (4 KiB at the
        default 12 bits instead of 38 KiB of zlib state).

        For an I/O layer to call when a connection goes idle. The next
        compressed message gets a new compressor with those bytes as its
        dictionary, so it may still refer to them, as context takeover
        allows. After the first call, each compressed message costs a copy
        of up to that many bytes; the message right after the first call
        is compressed without history (a sender may always reset its
        context). Does nothing in the middle of a message.
        """
        if self._encoding_message or self._encoder is None:
            return
        self._encoder = None
        if self._sent is None and not self.local_no_context_takeover:
            self._sent = b""

    def _new_encoder(self) -> Any:
        """A raw deflate compressor for our window, with our settings."""
        bits = self.local_max_window_bits
        settings = {"level": DEFAULT_LEVEL, "memLevel": bits - 7, **self.compress_settings}
        if self._sent:
            # compact() dropped the previous compressor: start from what it
            # had seen, which is what the peer's decompressor holds.
            settings["zdict"] = self._sent
        return zlib.compressobj(wbits=-bits, **settings)


def _build_parameters(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Optional[int],
    client_max_window_bits: Union[int, bool, None],
) -> List[ExtensionParameter]:
    """Return the ``(name, value)`` pairs that describe a configuration."""
    params: List[ExtensionParameter] = []
    if server_no_context_takeover:
        params.append(("server_no_context_takeover", None))
    if client_no_context_takeover:
        params.append(("client_no_context_takeover", None))
    if server_max_window_bits:
        params.append(("server_max_window_bits", str(server_max_window_bits)))
    if client_max_window_bits is True:
        # Only in an offer: "I can honour a limit, pick one."
        params.append(("client_max_window_bits", None))
    elif client_max_window_bits:
        params.append(("client_max_window_bits", str(client_max_window_bits)))
    return params


def _parse_parameters(
    params: Sequence[ExtensionParameter], *, is_server: bool
) -> Tuple[bool, bool, Optional[int], Union[int, bool, None]]:
    """
    Read ``(name, value)`` pairs into (server_no_context_takeover,
    client_no_context_takeover, server_max_window_bits, client_max_window_bits).

    ``client_max_window_bits`` without a value (returned as True) is valid
    only in an offer, that is when ``is_server``.
    """
    found: Dict[str, Any] = {}
    for name, value in params:
        if name in found:
            raise DuplicateParameter(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise InvalidParameterValue(name, value)
            found[name] = True
        elif name == "server_max_window_bits" or name == "client_max_window_bits":
            if value is None and is_server and name == "client_max_window_bits":
                found[name] = True
            elif value in _WINDOW_BITS:
                found[name] = _WINDOW_BITS[value]
            else:
                raise InvalidParameterValue(name, value)
        else:
            raise InvalidParameterName(name)
    return (
        found.get("server_no_context_takeover", False),
        found.get("client_no_context_takeover", False),
        found.get("server_max_window_bits"),
        found.get("client_max_window_bits"),
    )


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """
    Offers permessage-deflate from a client (RFC 7692 section 7.1).

    Args:
        server_no_context_takeover: ask the server to reset its compressor
            after each message; default :obj:`False`.
        client_no_context_takeover: reset our compressor after each message;
            default :obj:`False`.
        server_max_window_bits: ask the server for a window of at most this
            many bits, 8 to 15; default :obj:`None`, no request.
        client_max_window_bits: a window of at most this many bits for our
            compressor, 9 to 15, or :obj:`True` (the default) to offer the
            parameter without a value, letting the server choose.
        compress_settings: extra keyword arguments for
            :func:`zlib.compressobj`, without ``wbits``; default none.
    """

    name = ExtensionName("permessage-deflate")

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Union[int, bool, None] = True,
        compress_settings: Optional[Dict[str, Any]] = None,
    ) -> None:
        if server_max_window_bits is not None and not 8 <= server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be between 8 and 15")
        if client_max_window_bits not in (None, True) and not 9 <= client_max_window_bits <= 15:
            raise ValueError("client_max_window_bits must be between 9 and 15")
        if compress_settings is not None and "wbits" in compress_settings:
            raise ValueError("compress_settings must not include wbits, set client_max_window_bits instead")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings

    def get_request_params(self) -> List[ExtensionParameter]:
        """Return the parameters of the offer."""
        return _build_parameters(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> PerMessageDeflate:
        """
        Check the server's answer against our offer and build the extension.

        Raises:
            NegotiationError: if the answer does not honour the offer.
        """
        if any(other.name == self.name for other in accepted_extensions):
            raise NegotiationError(f"received duplicate {self.name}")
        server_nct, client_nct, server_bits, client_bits = _parse_parameters(params, is_server=False)

        # The server may add server_no_context_takeover, never drop it.
        if self.server_no_context_takeover and not server_nct:
            raise NegotiationError("expected server_no_context_takeover")
        # We reset our compressor if we said so, whatever the answer.
        if self.client_no_context_takeover:
            client_nct = True
        # The server's window may be smaller than asked, never larger or absent.
        if self.server_max_window_bits is not None:
            if server_bits is None:
                raise NegotiationError("expected server_max_window_bits")
            if server_bits > self.server_max_window_bits:
                raise NegotiationError("unsupported server_max_window_bits")
        # The server may limit our window only if we offered the parameter.
        if self.client_max_window_bits is None:
            if client_bits is not None:
                raise NegotiationError("unexpected client_max_window_bits")
        elif self.client_max_window_bits is not True:
            if client_bits is None:
                client_bits = self.client_max_window_bits
            elif client_bits > self.client_max_window_bits:
                raise NegotiationError("unsupported client_max_window_bits")
        if client_bits == 8:
            raise NegotiationError("unsupported client_max_window_bits = 8, use 9")

        return PerMessageDeflate(
            server_nct,  # remote_no_context_takeover
            client_nct,  # local_no_context_takeover
            server_bits or 15,  # remote_max_window_bits
            client_bits or 15,  # local_max_window_bits
            self.compress_settings,
        )


def enable_client_permessage_deflate(
    extensions: Optional[Sequence[ClientExtensionFactory]],
) -> Sequence[ClientExtensionFactory]:
    """
    Return ``extensions`` plus permessage-deflate with default settings
    (memLevel 5), unless it is already there, perhaps configured otherwise.
    """
    extensions = list(extensions or ())
    if not any(factory.name == ClientPerMessageDeflateFactory.name for factory in extensions):
        extensions.append(ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}))
    return extensions


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """
    Accepts permessage-deflate on a server (RFC 7692 section 7.1).

    Args:
        server_no_context_takeover: reset our compressor after each message;
            default :obj:`False`.
        client_no_context_takeover: require the client to reset its
            compressor after each message; default :obj:`False`.
        server_max_window_bits: a window of at most this many bits for our
            compressor, 9 to 15; default :obj:`None`, as the client asks.
        client_max_window_bits: limit the client's window to this many bits,
            8 to 15, when the client allows it; default :obj:`None`.
        compress_settings: extra keyword arguments for
            :func:`zlib.compressobj`, without ``wbits``; default none.
        require_client_max_window_bits: decline compression when the client
            does not offer ``client_max_window_bits``; default :obj:`False`.
    """

    name = ExtensionName("permessage-deflate")

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Optional[int] = None,
        compress_settings: Optional[Dict[str, Any]] = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        if server_max_window_bits is not None and not 9 <= server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be between 9 and 15")
        if client_max_window_bits is not None and not 8 <= client_max_window_bits <= 15:
            raise ValueError("client_max_window_bits must be between 8 and 15")
        if compress_settings is not None and "wbits" in compress_settings:
            raise ValueError("compress_settings must not include wbits, set server_max_window_bits instead")
        if client_max_window_bits is None and require_client_max_window_bits:
            raise ValueError("require_client_max_window_bits is enabled, but client_max_window_bits isn't configured")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self.require_client_max_window_bits = require_client_max_window_bits

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Tuple[List[ExtensionParameter], PerMessageDeflate]:
        """
        Answer the client's offer.

        Returns:
            The response parameters and the extension.

        Raises:
            NegotiationError: to decline the offer.
        """
        if any(other.name == self.name for other in accepted_extensions):
            raise NegotiationError(f"skipped duplicate {self.name}")
        server_nct, client_nct, server_bits, client_bits = _parse_parameters(params, is_server=True)

        # Our own settings win when they are stricter than the offer.
        if self.server_no_context_takeover:
            server_nct = True
        if self.client_no_context_takeover:
            client_nct = True
        if self.server_max_window_bits is not None:
            if server_bits is None or server_bits > self.server_max_window_bits:
                server_bits = self.server_max_window_bits
        if server_bits == 8:
            raise NegotiationError("unsupported server_max_window_bits = 8, use 9")
        # We may limit the client's window only if it offered the parameter;
        # a bare offer (True) means "you choose", and None from us means 15.
        if client_bits is True:
            client_bits = self.client_max_window_bits
        elif self.client_max_window_bits is not None:
            if client_bits is None:
                if self.require_client_max_window_bits:
                    raise NegotiationError("required client_max_window_bits")
            elif client_bits > self.client_max_window_bits:
                client_bits = self.client_max_window_bits

        return (
            _build_parameters(server_nct, client_nct, server_bits, client_bits),
            PerMessageDeflate(
                client_nct,  # remote_no_context_takeover
                server_nct,  # local_no_context_takeover
                client_bits or 15,  # remote_max_window_bits
                server_bits or 15,  # local_max_window_bits
                self.compress_settings,
            ),
        )


def enable_server_permessage_deflate(
    extensions: Optional[Sequence[ServerExtensionFactory]],
) -> Sequence[ServerExtensionFactory]:
    """
    Return ``extensions`` plus permessage-deflate with default settings
    (12-bit windows both ways, memLevel 5), unless it is already there.
    """
    extensions = list(extensions or ())
    if not any(factory.name == ServerPerMessageDeflateFactory.name for factory in extensions):
        extensions.append(
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            )
        )
    return extensions
