# The compiled build of websockets_fast/asyncio/tls.py (see setup.py SINGLE_SOURCE):
# the same classes, with the same signatures.

from websockets_fast.asyncio.tls import TLSLayer as TLSLayer, TLSTransport as TLSTransport
