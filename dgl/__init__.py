"""dgl: models, batched training and evaluation of mmtheory (not the Deep Graph Library).

The import name ``dgl`` is shared with the Deep Graph Library. Entry points import
:mod:`mmtheory` first, which stops with a clear message if ``import dgl`` resolves to another
package; this module refuses to load beside an installed Deep Graph Library, whose ``dgl``
it would shadow.
"""

from __future__ import annotations

import importlib.metadata

#: Marker checked by :func:`mmtheory.require_own_dgl`.
MMTHEORY_PACKAGE = "mmtheory"


def _deep_graph_library_installed() -> str | None:
    for dist in ("dgl", "dgl-cu118", "dgl-cu121", "dgl-cu124"):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


_clash = _deep_graph_library_installed()
if _clash is not None:
    raise ImportError(
        f"mmtheory's package 'dgl' and the Deep Graph Library ({_clash}) are installed in the "
        "same environment and share the import name 'dgl'. Install mmtheory in its own virtual "
        "environment (see README.md)."
    )
