"""Benchmarks: websockets_fast side by side with websockets, picows and aiohttp.

Run ``python -m bench`` (the short suite), ``python -m bench --full`` or
``python -m bench micro``; ``bench/README.md`` explains the method.
"""
