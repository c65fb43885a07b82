"""websockets_fast.utils against websockets.utils: same results, same errors."""

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_fast import utils

websockets_utils = pytest.importorskip("websockets.utils")


def test_accept_key_rfc_example():
    # RFC 6455 section 1.3.
    assert utils.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generate_key_is_16_random_bytes():
    import base64

    keys = {utils.generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


@given(st.binary(max_size=200), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_websockets(data, mask):
    assert utils.apply_mask(data, mask) == websockets_utils.apply_mask(data, mask)
    assert utils.apply_mask(utils.apply_mask(data, mask), mask) == data


def test_apply_mask_other_buffers():
    mask = b"\x01\x02\x03\x04"
    data = bytes(range(40))
    expected = websockets_utils.apply_mask(data, mask)
    assert utils.apply_mask(bytearray(data), mask) == expected
    assert utils.apply_mask(memoryview(data), bytearray(mask)) == expected
    # Not contiguous: copied first rather than refused.
    strided = memoryview(data + data)[::2]
    assert utils.apply_mask(strided, mask) == websockets_utils.apply_mask(strided.tobytes(), mask)


@pytest.mark.parametrize("mask", [b"", b"123", b"12345"])
def test_apply_mask_bad_mask(mask):
    with pytest.raises(ValueError):
        websockets_utils.apply_mask(b"data", mask)
    with pytest.raises(ValueError):
        utils.apply_mask(b"data", mask)


def test_get_socket_name():
    with socket.socket(socket.AF_INET) as sock:
        sock.bind(("127.0.0.1", 0))
        assert utils.get_socket_name(sock) == websockets_utils.get_socket_name(sock)
        assert utils.get_socket_name(sock) == "127.0.0.1:%d" % sock.getsockname()[1]
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6) as sock:
            try:
                sock.bind(("::1", 0))
            except OSError:
                pass
            else:
                assert utils.get_socket_name(sock) == "[::1]:%d" % sock.getsockname()[1]
    if hasattr(socket, "AF_UNIX"):
        with socket.socket(socket.AF_UNIX) as sock:
            assert utils.get_socket_name(sock) == websockets_utils.get_socket_name(sock)
