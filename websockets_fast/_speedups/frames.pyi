# Types of the compiled module built from _speedups/frames.pyx. Its pure twin,
# websockets_fast/_pyspeedups/frames.py, has the same signatures.

from typing import Any, List, Literal, Optional, Sequence, Tuple, Union

from .utf8 import Utf8Validator

__all__ = [
    "parse_header",
    "serialize_header",
    "build_frame",
    "append_frame",
    "FrameParser",
    "SPLIT_FRAME_SIZE",
    "send_some",
    "recv_some",
    "recv_into_some",
    "build_data_frame",
]

_Buffer = Union[bytes, bytearray, memoryview]
# mask_key=True: a fresh key from the module's pool (build_frame, append_frame).
_MaskKey = Union[_Buffer, Literal[True], None]

SPLIT_FRAME_SIZE: int

def parse_header(
    data: _Buffer, offset: int = 0
) -> Union[int, Tuple[bool, int, int, bool, int, Optional[bytes], int]]: ...
def serialize_header(
    fin: bool, opcode: int, length: int, rsv: int = 0, mask_key: Optional[_Buffer] = None
) -> bytes: ...
def build_frame(fin: bool, opcode: int, payload: _Buffer, rsv: int = 0, mask_key: _MaskKey = None) -> bytes: ...
def build_data_frame(opcode: int, payload: _Buffer, mask_key: _MaskKey = None) -> bytes: ...
def append_frame(
    writes: List[Any], fin: bool, opcode: int, payload: _Buffer, rsv: int = 0, mask_key: _MaskKey = None
) -> None: ...
def send_some(fd: int, data: _Buffer) -> int: ...
def recv_some(fd: int, size: int, large: bool = False) -> Optional[bytes]: ...
def recv_into_some(fd: int, buffer: Any) -> Optional[int]: ...

class FrameParser:
    exc: Optional[Exception]
    utf8: Optional[Utf8Validator]
    @property
    def control_frames(self) -> int: ...
    @property
    def fragments_exceeded(self) -> bool: ...
    mask_expected: bool
    def __init__(
        self,
        mask_expected: bool,
        max_size: Optional[int] = None,
        max_frame_size: Optional[int] = None,
        allowed_rsv: int = 0,
        *,
        frame_class: Optional[type] = None,
        opcodes: Optional[Sequence[Any]] = None,
        utf8: Optional[Utf8Validator] = None,
        max_fragments: Optional[int] = None,
    ) -> None: ...
    @property
    def max_size(self) -> Optional[int]: ...
    @max_size.setter
    def max_size(self, value: Optional[int]) -> None: ...
    @property
    def max_frame_size(self) -> Optional[int]: ...
    @max_frame_size.setter
    def max_frame_size(self, value: Optional[int]) -> None: ...
    @property
    def allowed_rsv(self) -> int: ...
    @allowed_rsv.setter
    def allowed_rsv(self, value: int) -> None: ...
    @property
    def max_fragments(self) -> Optional[int]: ...
    @max_fragments.setter
    def max_fragments(self, value: Optional[int]) -> None: ...
    @property
    def buffered(self) -> int: ...
    @property
    def missing(self) -> int: ...
    # (fin, rsv, opcode, payload) tuples, or frame_class objects in message mode.
    def feed(self, data: _Buffer) -> List[Any]: ...
    # As feed(), with a whole data message as its payload (bytes, or str for
    # ASCII text) in message mode.
    def feed_messages(self, data: _Buffer) -> List[Any]: ...
    def payload_view(self) -> Optional[memoryview]: ...
    def payload_received(self, size: int) -> List[Any]: ...
