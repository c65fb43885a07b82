# The compiled build of websockets_fast/protocol.py (see setup.py SINGLE_SOURCE):
# the same class, with the same signatures.

from websockets_fast.protocol import Protocol as Protocol
