# The compiled build of websockets_fast/assembler.py (see setup.py SINGLE_SOURCE):
# the same class, with the same signatures.

from websockets_fast.assembler import Assembler as Assembler
