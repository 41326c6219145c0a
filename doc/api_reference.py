"""Write ``api.rst``: every public name of sklasd, grouped by module, from ``__all__``.

Run by ``conf.py`` at each build, so a name added to a module's ``__all__`` appears
in the reference without editing the docs.
"""
import importlib
import inspect
import pkgutil

import sklasd

# The order of the sections; any other public module with an ``__all__`` follows
# (the command line is documented in the user guide).
MODULES = [
    "sklasd.base", "sklasd.features", "sklasd.datasets", "sklasd.detectors",
    "sklasd.classifiers", "sklasd.augment", "sklasd.metrics", "sklasd.model_selection",
    "sklasd.pipeline", "sklasd.plotting", "sklasd.models", "sklasd.audio",
]

EXCLUDED = {"cli"}


def public_modules():
    """The modules to document: ``MODULES`` then any other public one with ``__all__``."""
    found = [f"sklasd.{info.name}" for info in pkgutil.iter_modules(sklasd.__path__)
             if not info.name.startswith("_") and info.name not in EXCLUDED]
    extra = sorted(name for name in found if name not in MODULES
                   and hasattr(importlib.import_module(name), "__all__"))
    return MODULES + extra


def _kind(obj):
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return "data"


def _summary(module):
    doc = inspect.getdoc(module) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def module_section(name):
    """The reST section of one module: its summary, then a table per kind of name."""
    module = importlib.import_module(name)
    names = sorted(module.__all__, key=str.lower)
    lines = [f".. _api-{name}:", "", f":mod:`{name}`", "-" * (len(name) + 7), "",
             f".. automodule:: {name}", "   :no-members:", "   :no-inherited-members:",
             "", f".. currentmodule:: {name}", ""]
    titles = {"class": "Classes", "function": "Functions", "data": "Constants"}
    for kind, title in titles.items():
        members = [n for n in names if _kind(getattr(module, n)) == kind]
        if not members:
            continue
        lines += [f".. rubric:: {title}", "", ".. autosummary::",
                  "   :toctree: generated/", f"   :template: {kind}.rst", "",
                  *(f"   {n}" for n in members), ""]
    return lines


def constant_names():
    """Full names of the documented constants (neither classes nor functions)."""
    return [f"{name}.{member}" for name in public_modules()
            for member in importlib.import_module(name).__all__
            if _kind(getattr(importlib.import_module(name), member)) == "data"]


def write_api_reference(path):
    """Write the API reference page to ``path`` (a :class:`pathlib.Path`)."""
    modules = public_modules()
    lines = [".. _api:", "", "API reference", "=============", "",
             "Every public class, function and constant of sklasd, by module. The "
             "estimators follow scikit-learn's API: parameters in ``__init__``, "
             "``fit`` / ``transform`` / ``predict``, fitted attributes ending in ``_``.",
             "", ".. list-table::", "   :widths: 30 70", ""]
    for name in modules:
        lines += [f"   * - :ref:`{name} <api-{name}>`",
                  f"     - {_summary(importlib.import_module(name))}"]
    lines.append("")
    for name in modules:
        lines += module_section(name)
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
