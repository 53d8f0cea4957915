"""synth: multimodal data with a known law, and the exact ground truth derived from it."""

from synth.generators import GENERATORS, LawSpec, make_law
from synth.law import LinearGaussianLaw
from synth.subsets import all_subsets, format_subset, parse_subset

__all__ = [
    "GENERATORS",
    "LawSpec",
    "LinearGaussianLaw",
    "all_subsets",
    "format_subset",
    "make_law",
    "parse_subset",
]
