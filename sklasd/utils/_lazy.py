"""Public names of a package imported when first used (PEP 562)."""

import importlib
import sys


def lazy_attributes(package, modules):
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names are
    imported from their modules when first used.

    ``modules`` maps each name to the module that defines it, relative to
    ``package`` (``"._run"``) or absolute (``"sklasd._outputs"``).
    """
    def __getattr__(name):
        if name in modules:
            return getattr(importlib.import_module(modules[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(modules))

    return __getattr__, __dir__
