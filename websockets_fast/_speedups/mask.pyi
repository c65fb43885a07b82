# Types of the compiled module built from _speedups/mask.pyx. Its pure twin,
# websockets_fast/_pyspeedups/mask.py, has the same signatures.

from typing import Union

__all__ = ["apply_mask", "apply_mask_inplace"]

_Buffer = Union[bytes, bytearray, memoryview]

def apply_mask(data: _Buffer, mask: _Buffer) -> bytes: ...
def apply_mask_inplace(buffer: Union[bytearray, memoryview], mask: _Buffer) -> None: ...
