# Types of the compiled module built from _speedups/utf8.pyx. Its pure twin,
# websockets_fast/_pyspeedups/utf8.py, has the same signatures.

from typing import Union

__all__ = ["validate_utf8", "Utf8Validator"]

_Buffer = Union[bytes, bytearray, memoryview]

def validate_utf8(data: _Buffer) -> bool: ...

class Utf8Validator:
    def __init__(self) -> None: ...
    def feed(self, data: _Buffer, final: bool = False) -> bool: ...
    def reset(self) -> None: ...
