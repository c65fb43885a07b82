"""
Base classes of extensions, with the same API as ``websockets.extensions``.

An extension transforms frames: :meth:`Extension.encode` on the way out,
:meth:`Extension.decode` on the way in. Factories negotiate it during the
opening handshake and build the :class:`Extension` for one connection.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from ..frames import Frame
from ..typing import ExtensionName, ExtensionParameter

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]


class Extension:
    """
    An extension negotiated on one connection.

    Subclasses set :attr:`name`, and :attr:`rsv_bits` when they know which
    reserved bits they use, so that the frame parser rejects the others
    before reading a payload.
    """

    __slots__ = ()

    name: ExtensionName
    """Extension identifier, as in the ``Sec-WebSocket-Extensions`` header."""

    rsv_bits = 7
    """Reserved bits this extension may receive: RSV1=4, RSV2=2, RSV3=1.
    The default, all three, lets :meth:`decode` see any of them; bits still
    set after decoding fail the connection with 1002."""

    def decode(self, frame: Frame, *, max_size: Optional[int] = None) -> Frame:
        """
        Decode an incoming frame.

        Args:
            frame: the incoming :class:`~websockets_fast.frames.Frame`.
            max_size: most bytes the decoded payload may hold; default
                :obj:`None`, no limit.

        Returns:
            The decoded frame.

        Raises:
            PayloadTooBig: if the decoded payload would exceed ``max_size``.
            ProtocolError: if the frame is not valid for this extension.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """
        Encode an outgoing frame.

        Args:
            frame: the outgoing :class:`~websockets_fast.frames.Frame`.

        Returns:
            The encoded frame.
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """Negotiates an extension on the client side."""

    name: ExtensionName
    """Extension identifier."""

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """
        Return the parameters to offer to the server.

        Returns:
            A list of ``(name, value)`` pairs; ``value`` is None for a
            parameter without a value.
        """
        raise NotImplementedError

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        """
        Build the extension from the parameters the server accepted.

        Args:
            params: ``(name, value)`` pairs from the server's response.
            accepted_extensions: extensions accepted before this one.

        Returns:
            An :class:`Extension`.

        Raises:
            NegotiationError: if the parameters are not acceptable.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """Negotiates an extension on the server side."""

    name: ExtensionName
    """Extension identifier."""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Tuple[Sequence[ExtensionParameter], Extension]:
        """
        Accept or reject the client's offer.

        Args:
            params: ``(name, value)`` pairs from the client's request.
            accepted_extensions: extensions accepted before this one.

        Returns:
            To accept: the ``(name, value)`` pairs for the response, and an
            :class:`Extension`.

        Raises:
            NegotiationError: to reject the offer.
        """
        raise NotImplementedError
