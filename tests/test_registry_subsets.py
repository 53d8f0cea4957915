import pytest

from synth import GENERATORS, all_subsets, format_subset, make_law, parse_subset
from synth.registry import Registry


def test_registry_rejects_duplicates_and_lists_known_names():
    reg: Registry[int] = Registry("widget")
    reg.register("a")(1)
    reg.register("b")(2)
    with pytest.raises(ValueError, match=r"widget 'a' is already registered.*\['a', 'b'\]"):
        reg.register("a")(3)
    with pytest.raises(KeyError, match=r"unknown widget 'c'.*\['a', 'b'\]"):
        reg.get("c")
    assert reg.get("b") == 2 and list(reg) == ["a", "b"]


def test_unknown_generator_names_the_known_ones():
    with pytest.raises(KeyError, match="huang_overlap"):
        make_law("no_such_generator")
    assert "huang_overlap" in GENERATORS


def test_subset_round_trip_and_errors():
    assert parse_subset("3+1", 4) == (0, 2)
    assert format_subset((0, 2)) == "1+3"
    for bad in ["", "1+1", "0", "5", "1,2", "a"]:
        with pytest.raises(ValueError):
            parse_subset(bad, 4)


def test_all_subsets_counts():
    subsets = all_subsets(4)
    assert len(subsets) == 15 == len(set(subsets))
    assert subsets[0] == (0,) and subsets[-1] == (0, 1, 2, 3)
