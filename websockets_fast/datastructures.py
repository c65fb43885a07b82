"""HTTP headers: a case-insensitive mapping that keeps repeated headers."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Tuple, Union

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8 is not supported anyway
    Protocol = object  # type: ignore[assignment]

from .exceptions import InvalidHeaderValue

__all__ = ["Headers", "HeadersLike", "MultipleValuesError", "SupportsKeysAndGetItem"]


class MultipleValuesError(LookupError):
    """Raised by ``headers[name]`` when the header occurs more than once."""

    def __str__(self) -> str:
        # Quote a single key the way KeyError does.
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


# HTAB, SP, visible ASCII and obs-text (RFC 9110 field-value), as str.
_is_valid_value = re.compile(r"[\t\x20-\x7e\x80-\xff]*").fullmatch


class Headers(MutableMapping[str, str]):
    """
    HTTP headers, with case-insensitive names and possibly repeated values.

    Reading ``headers[name]`` returns the value when the header occurs once,
    raises :exc:`KeyError` when it is absent and :exc:`MultipleValuesError`
    when it occurs more than once. Setting ``headers[name] = value`` appends a
    value; it never replaces one. ``del headers[name]`` removes every value.
    :meth:`get_all` returns every value of a header and :meth:`raw_items`
    every ``(name, value)`` pair, in the order they were added, with names
    spelled as they were added.

    Values are text. Bytes outside ASCII, which HTTP tolerates as opaque data,
    are represented as ISO-8859-1, which round-trips any byte; re-encode to
    interpret them differently, e.g.
    ``headers[name].encode("iso-8859-1").decode("utf-8")``.

    Values assigned with ``headers[name] = value`` are checked for characters
    that cannot appear in a header (CR, LF, NUL, ...), which would let tainted
    input inject headers. Names are not checked: they are normally constants.

    Args:
        args: at most one mapping, iterable of ``(name, value)`` pairs or
            :class:`Headers` instance to copy from, as for :class:`dict`.
        kwargs: more headers, given as keyword arguments.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        # Lower-cased name -> values, for lookups; and the pairs in order, as
        # given, for serialising.
        self._dict: Dict[str, List[str]] = {}
        self._list: List[Tuple[str, str]] = []
        if args or kwargs:
            self.update(*args, **kwargs)

    @classmethod
    def _from_parsed(cls, pairs: Iterable[Tuple[str, str]]) -> Headers:
        """Build headers from pairs that a parser already validated."""
        headers = cls()
        by_name = headers._dict
        for name, value in pairs:
            key = name.lower()
            values = by_name.get(key)
            if values is None:
                by_name[key] = [value]
            else:
                values.append(value)
        headers._list = pairs if isinstance(pairs, list) else list(pairs)
        return headers

    def __str__(self) -> str:
        return "".join([f"{name}: {value}\r\n" for name, value in self._list]) + "\r\n"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._list!r})"

    def copy(self) -> Headers:
        """Return a shallow copy; changing the copy leaves this object alone."""
        copy = self.__class__()
        copy._dict = {key: values.copy() for key, values in self._dict.items()}
        copy._list = self._list.copy()
        return copy

    def serialize(self) -> bytes:
        """Return the header lines and the blank line ending them, as bytes."""
        # ISO-8859-1 turns every character U+0000-U+00FF back into its byte,
        # the reverse of how non-ASCII bytes were decoded.
        return str(self).encode("iso-8859-1")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, key: str) -> str:
        values = self._dict[key.lower()]
        if len(values) == 1:
            return values[0]
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        if not _is_valid_value(str(value)):
            raise InvalidHeaderValue(key, value)
        self._dict.setdefault(key.lower(), []).append(value)
        self._list.append((key, value))

    def __delitem__(self, key: str) -> None:
        lower = key.lower()
        del self._dict[lower]
        # Deleting is rare; rebuilding the list keeps the common paths simple.
        self._list = [(name, value) for name, value in self._list if name.lower() != lower]

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._dict == other._dict

    def clear(self) -> None:
        """Remove every header."""
        self._dict = {}
        self._list = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """
        Add headers from a mapping, pairs, :class:`Headers` and/or keywords.

        Values are appended, like ``headers[name] = value``; existing values
        are kept. A :class:`Headers` argument contributes all its values.
        """
        args = tuple(arg.raw_items() if isinstance(arg, Headers) else arg for arg in args)
        super().update(*args, **kwargs)

    def get_all(self, key: str) -> List[str]:
        """
        Return the list of every value of a header, empty when it is absent.

        Args:
            key: header name, in any case.
        """
        return self._dict.get(key.lower(), [])

    def raw_items(self) -> Iterator[Tuple[str, str]]:
        """Return an iterator over every ``(name, value)`` pair, in order."""
        return iter(self._list)

    def set_insecure(self, key: str, value: str) -> None:
        """Append a header without checking its value; for trusted values only."""
        self._dict.setdefault(key.lower(), []).append(value)
        self._list.append((key, value))


class SupportsKeysAndGetItem(Protocol):  # pragma: no cover - typing only
    """A dict-like object: ``keys()`` of :class:`str` and ``obj[key] -> str``."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str) -> str: ...


HeadersLike = Union[Headers, Mapping[str, str], Iterable[Tuple[str, str]], SupportsKeysAndGetItem]
"""What is accepted where :class:`Headers` is expected: :class:`Headers`, or a
mapping, an iterable of pairs, or a dict-like object, of :class:`str`."""
