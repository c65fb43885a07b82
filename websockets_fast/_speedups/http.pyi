# Types of the compiled module built from _speedups/http.pyx. Its pure twin,
# websockets_fast/_pyspeedups/http.py, has the same signatures.

from typing import List, Optional, Tuple, Union

__all__ = ["parse_request", "parse_response"]

_Buffer = Union[bytes, bytearray, memoryview]
_Headers = List[Tuple[str, str]]

def parse_request(
    data: _Buffer, max_line: int = 8192, max_headers: int = 128
) -> Optional[Tuple[str, str, str, _Headers, int]]: ...
def parse_response(
    data: _Buffer, max_line: int = 8192, max_headers: int = 128
) -> Optional[Tuple[str, int, str, _Headers, int]]: ...
