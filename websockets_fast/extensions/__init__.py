"""WebSocket extensions (RFC 6455 section 9) and permessage-deflate (RFC 7692)."""

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]
