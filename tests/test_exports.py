"""The public names of the package: `__all__` is complete and importable."""

from __future__ import annotations

import types

import drachtio
import drachtio._core
import drachtio.errors


def test_all_names_are_importable() -> None:
    for name in drachtio.__all__:
        assert getattr(drachtio, name) is not None, name


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(drachtio).items()
        if not name.startswith("_")
        # Submodules (errors, and any imported by other tests) are not re-exported names.
        and not isinstance(value, types.ModuleType)
        # Names imported from the standard library for the package's own use.
        and getattr(value, "__module__", "drachtio").startswith("drachtio")
    }
    assert public == set(drachtio.__all__) - {"__version__"}


def test_every_core_and_error_name_is_reexported() -> None:
    assert set(drachtio._core.__all__) <= set(drachtio.__all__)
    assert set(drachtio.errors.__all__) <= set(drachtio.__all__)
    for name in drachtio._core.__all__:
        assert getattr(drachtio, name) is getattr(drachtio._core, name)


def test_core_classes_name_their_module() -> None:
    for name in drachtio._core.__all__:
        value = getattr(drachtio._core, name)
        if isinstance(value, type):
            assert value.__module__ == "drachtio._core", name


def test_version() -> None:
    assert isinstance(drachtio.__version__, str)
    assert drachtio.__version__ != ""
