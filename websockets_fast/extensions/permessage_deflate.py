"""
The permessage-deflate extension (RFC 7692), with the API of
``websockets.extensions.permessage_deflate``.

Memory is the main cost of compression: a zlib compressor holds its window
plus hash tables (about 40 KiB at 12 window bits and memLevel 5), a
decompressor its window plus about 7 KiB. So each direction's zlib object is
created only when the first message that needs it comes, and when
no_context_takeover is negotiated for a direction, that object is dropped at
the end of every message, because the next one must start afresh anyway.
An idle connection then holds no zlib state at all.
"""

from __future__ import annotations

import zlib

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import Frame
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


class PerMessageDeflate(Extension):
    """
    permessage-deflate on one connection, with the negotiated parameters.

    Args:
        remote_no_context_takeover: the peer resets its compressor after each
            message, so our decompressor is dropped after each message.
        local_no_context_takeover: we reset our compressor after each
            message (it is dropped after each message).
        remote_max_window_bits: the peer's window size, 8 to 15 bits.
        local_max_window_bits: our window size, 9 to 15 bits (zlib cannot
            compress with an 8-bit raw deflate window).
        compress_settings: extra keyword arguments for
            :func:`zlib.compressobj` such as ``memLevel``, without ``wbits``;
            default none.
    """

    name = "permessage-deflate"
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
    )

    def __init__(
        self,
        remote_no_context_takeover,
        local_no_context_takeover,
        remote_max_window_bits,
        local_max_window_bits,
        compress_settings=None,
    ):
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
        self._decoder = None
        self._encoder = None
        # True between the first and the last frame of a compressed
        # fragmented message, whose continuation frames must be inflated.
        self._decoding_message = False

    def __repr__(self):
        return (
            f"PerMessageDeflate("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def decode(self, frame, *, max_size=None):
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
        if opcode >= 8:
            if frame.rsv1:
                raise ProtocolError("RSV1 bit set in control frame")
            return frame
        if opcode == 0:
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
            decoder = self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
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

        if frame.fin and (self.remote_no_context_takeover or decoder.eof):
            # No context to keep: the next message starts a new stream. (A
            # peer that ended the deflate stream with a final block must
            # start a new one as well.)
            self._decoder = None
        return Frame(opcode, output, frame.fin, False, frame.rsv2, frame.rsv3)

    def encode(self, frame):
        """Deflate an outgoing data frame; control frames pass unchanged."""
        opcode = frame.opcode
        if opcode >= 8:
            return frame
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = zlib.compressobj(wbits=-self.local_max_window_bits, **self.compress_settings)
        data = encoder.compress(frame.data)
        # Small inputs stay inside zlib until the flush: skip a concatenation.
        data = data + encoder.flush(_Z_SYNC_FLUSH) if data else encoder.flush(_Z_SYNC_FLUSH)
        if frame.fin:
            # Strip the sync flush tail; a view avoids copying big payloads.
            data = data[:-4] if len(data) < _SMALL_PAYLOAD else memoryview(data)[:-4]
            if self.local_no_context_takeover:
                self._encoder = None
        # RSV1 marks the first frame of a compressed message only.
        return Frame(opcode, data, frame.fin, opcode != 0, frame.rsv2, frame.rsv3)


def _build_parameters(server_no_context_takeover, client_no_context_takeover, server_max_window_bits, client_max_window_bits):
    """Return the ``(name, value)`` pairs that describe a configuration."""
    params = []
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


def _parse_parameters(params, *, is_server):
    """
    Read ``(name, value)`` pairs into (server_no_context_takeover,
    client_no_context_takeover, server_max_window_bits, client_max_window_bits).

    ``client_max_window_bits`` without a value (returned as True) is valid
    only in an offer, that is when ``is_server``.
    """
    found = {}
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

    name = "permessage-deflate"

    def __init__(
        self,
        server_no_context_takeover=False,
        client_no_context_takeover=False,
        server_max_window_bits=None,
        client_max_window_bits=True,
        compress_settings=None,
    ):
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

    def get_request_params(self):
        """Return the parameters of the offer."""
        return _build_parameters(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )

    def process_response_params(self, params, accepted_extensions):
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


def enable_client_permessage_deflate(extensions):
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

    name = "permessage-deflate"

    def __init__(
        self,
        server_no_context_takeover=False,
        client_no_context_takeover=False,
        server_max_window_bits=None,
        client_max_window_bits=None,
        compress_settings=None,
        require_client_max_window_bits=False,
    ):
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

    def process_request_params(self, params, accepted_extensions):
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


def enable_server_permessage_deflate(extensions):
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
