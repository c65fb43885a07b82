"""
The threading implementation: :mod:`websockets_fast.sync.client` and
:mod:`websockets_fast.sync.server`, with the API of ``websockets.sync``.
"""
