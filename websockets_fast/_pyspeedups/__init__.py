"""Pure-Python twins of the compiled hot paths in :mod:`websockets_fast._speedups`.

Each module here has the same functions, classes, signatures and exceptions as
its compiled counterpart. They run on PyPy, where no C compiler is available,
and when ``WEBSOCKETS_FAST_PURE=1`` is set. Do not import them directly:
:mod:`websockets_fast.speedups` picks the implementation.
"""
