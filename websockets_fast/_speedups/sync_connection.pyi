# The compiled build of websockets_fast/sync/connection.py (see setup.py
# SINGLE_SOURCE): the same class and function, with the same signatures.

from websockets_fast.sync.connection import Connection as Connection, broadcast as broadcast
