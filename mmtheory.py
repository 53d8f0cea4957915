"""mmtheory: entry-point guard for the shared import name ``dgl``.

``import mmtheory`` checks that ``import dgl`` resolves to this project's package and not to
the Deep Graph Library (same import name); it raises ImportError naming the file it found.
Workflow scripts and the test suite import it before anything from ``dgl``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require_own_dgl"]


def require_own_dgl() -> ModuleType:
    """Import ``dgl`` and fail loudly unless it is mmtheory's package."""
    module = importlib.import_module("dgl")
    if getattr(module, "MMTHEORY_PACKAGE", None) != "mmtheory":
        where = getattr(module, "__file__", None) or list(getattr(module, "__path__", []))
        raise ImportError(
            f"'import dgl' resolved to {where}, which is not mmtheory's dgl package (the Deep "
            "Graph Library uses the same import name). Use a virtual environment without it "
            "and install mmtheory there (see README.md)."
        )
    return module


require_own_dgl()
