"""The top-level namespace: ``from websockets_fast import serve, basic_auth``."""

import importlib
import pkgutil

import websockets_fast


def _import_every_submodule():
    for info in pkgutil.walk_packages(websockets_fast.__path__, "websockets_fast."):
        if info.name.startswith("websockets_fast._speedups"):
            continue  # absent from a pure-Python install; nothing to shadow
        importlib.import_module(info.name)


def test_top_level_names_are_the_submodule_objects_whatever_was_imported_first():
    # Importing a submodule binds its name in the package namespace. A
    # submodule named like a top-level function (there was a basic_auth.py)
    # would then replace the function with the module, depending on import
    # order; importing everything first makes that order the worst one.
    _import_every_submodule()
    for name, module in websockets_fast._LAZY.items():
        expected = getattr(importlib.import_module(module, "websockets_fast"), name)
        assert getattr(websockets_fast, name) is expected, name


def test_all_lists_every_lazy_name():
    assert set(websockets_fast.__all__) == {"__version__", *websockets_fast._LAZY}
    assert callable(websockets_fast.basic_auth)
