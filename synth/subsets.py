"""Subsets of modalities, written the way tables and configs write them: ``"1+3"``.

Modalities are numbered from 1 in text and from 0 in code. A subset is a sorted tuple of
0-based indices.
"""

from __future__ import annotations

from itertools import combinations

Subset = tuple[int, ...]


def parse_subset(text: str, n_modalities: int) -> Subset:
    """``"1+3"`` -> ``(0, 2)``. Rejects empty, duplicate or out-of-range members."""
    parts = [p.strip() for p in str(text).split("+")]
    if not parts or any(not p.isdigit() for p in parts):
        raise ValueError(f"subset {text!r}: expected modality numbers joined by '+', e.g. '1+3'")
    members = [int(p) for p in parts]
    if len(set(members)) != len(members):
        raise ValueError(f"subset {text!r} names a modality twice")
    bad = [m for m in members if not 1 <= m <= n_modalities]
    if bad:
        raise ValueError(f"subset {text!r}: modalities must lie in 1..{n_modalities}, got {bad}")
    return tuple(sorted(m - 1 for m in members))


def format_subset(subset: Subset) -> str:
    """``(0, 2)`` -> ``"1+3"``."""
    return "+".join(str(i + 1) for i in sorted(subset))


def all_subsets(n_modalities: int) -> list[Subset]:
    """Every non-empty subset of ``range(n_modalities)``, by size then lexicographically."""
    return [
        c for size in range(1, n_modalities + 1) for c in combinations(range(n_modalities), size)
    ]
