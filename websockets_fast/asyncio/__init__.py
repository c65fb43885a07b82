"""The asyncio implementation: ``websockets_fast.asyncio.client`` and ``.server``."""
