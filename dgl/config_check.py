"""Validation of a study config before any job runs: the JSON schema, then cross-field checks.

Every failure is one :class:`ConfigError` whose message names the offending key (dotted path,
list positions in brackets) and what is allowed there, e.g.

    config key huang2021.overlaps[0]: 1.5 is greater than the maximum of 1.
    Allowed: numbers in [0, 1] (Overlap ratios rho in [0, 1]; ...).

The schema (workflow/schemas/config.schema.yaml) holds types, ranges, required and unknown
keys; the cross-field checks hold what a schema cannot express: subsets within the number of
modalities and distinct once normalised, registered method names and their options, generator
knobs the generator accepts, sample-size fractions that leave rows to train on.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A config the workflow refuses, with the key and the allowed values in the message."""


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed(schema: dict) -> str:
    """What a schema node allows, in words."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        keys = ", ".join(schema["properties"])
        need = schema.get("required", [])
        if set(need) == set(schema["properties"]):
            return f"an object with exactly the keys {keys}"
        return f"an object with keys {keys}" + (f" (required: {', '.join(need)})" if need else "")
    if kind == "array" and "items" in schema:
        return f"a list ({schema.get('minItems', 0)}+ entries) of " + _allowed(schema["items"])
    bounds = []
    for word, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                      ("exclusiveMaximum", "<")):
        if word in schema:
            bounds.append(f"{sym} {schema[word]}")
    text = {"number": "numbers", "integer": "integers", "string": "strings",
            "object": "an object", "array": "a list", "boolean": "true or false"}.get(kind, "a value")
    return text + (" " + " and ".join(bounds) if bounds else "")


def schema_error(config: dict, schema: dict) -> str | None:
    """The most relevant schema violation as one message, or None."""
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    allowed = _allowed(error.schema if isinstance(error.schema, dict) else {})
    description = _description(schema, error.absolute_path)
    return (f"config key {_key(error.absolute_path)}: {error.message}. Allowed: {allowed}"
            + (f" ({description})" if description else "") + ".")


def _description(schema: dict, path) -> str | None:
    """The schema description of the key at ``path`` (nearest described ancestor)."""
    node, found = schema, schema.get("description")
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            break
        found = node.get("description", found)
    return found


def cross_field_errors(config: dict) -> list[str]:
    """Checks a JSON schema cannot express (run after the schema passed)."""
    from dgl.methods import METHODS, make_method
    from synth import make_law
    from synth.subsets import parse_subset

    errors = []
    huang = config["huang2021"]
    seen: dict[tuple[int, ...], str] = {}
    for i, text in enumerate(huang["subsets"]):
        try:
            subset = tuple(sorted(parse_subset(text, huang["n_modalities"])))
        except ValueError as err:
            errors.append(f"config key huang2021.subsets[{i}]: {err}. Allowed: subsets of the "
                          f"modalities 1..{huang['n_modalities']} written like '1+3'.")
            continue
        if subset in seen:
            errors.append(f"config key huang2021.subsets[{i}]: {text!r} is the same subset as "
                          f"{seen[subset]!r}. Allowed: distinct subsets.")
        seen[subset] = text

    cls = config["ground_truth"]["classification"]
    nuisance = cls["params"].get("nuisance_dims", 0)
    for name, snr in cls["snr_settings"].items():
        if not isinstance(nuisance, int) and len(nuisance) != len(snr):
            errors.append("config key ground_truth.classification.params.nuisance_dims: one "
                          f"entry per modality, but snr_settings.{name} has {len(snr)} "
                          "modalities. Allowed: one integer, or a list of that length.")
        if len(snr) < 2 and any(r > 0 for r in cls["synergy"]):
            errors.append("config key ground_truth.classification.synergy: synergy > 0 needs "
                          f"two modalities, but snr_settings.{name} has one. Allowed: [0] here.")

    imb = config["imbalance"]
    for name, variant in imb["variants"].items():
        key = f"imbalance.variants.{name}"
        if variant["method"] not in METHODS.names():
            errors.append(f"config key {key}.method: unknown method {variant['method']!r}. "
                          f"Allowed: one of {', '.join(METHODS.names())}.")
            continue
        sweep = variant.get("sweep") or {}
        for values in itertools.product(*sweep.values()):
            options = dict(variant.get("options") or {}, **dict(zip(sweep, values)))
            try:
                make_method(variant["method"], **options)
            except (TypeError, ValueError) as err:
                errors.append(f"config key {key}: method {variant['method']!r} refuses options "
                              f"{options}: {err}. Allowed: the options its class in "
                              "dgl.methods takes.")
                break
    for name, snr in imb["settings"].items():
        errors += _law_errors(make_law, imb["generator"], dict(imb["params"], snr=snr,
                                                               overlap=imb["overlaps"][0]),
                              "imbalance.params", f" (with settings.{name})")

    theory = config["theory"]
    for task in ("regression", "classification"):
        part = theory[task]
        errors += _law_errors(make_law, part["generator"],
                              dict(part["params"], overlap=theory["overlaps"][0]),
                              f"theory.{task}.params")
    for i, f in enumerate(theory["fractions"]):
        rows = round(f * theory["n_max"])
        if rows < 2:
            errors.append(f"config key theory.fractions[{i}]: {f} of n_max = {theory['n_max']} "
                          f"is {rows} rows. Allowed: fractions giving at least 2 rows "
                          f"(>= {2 / theory['n_max']:g}).")
    return errors


def _law_errors(make_law, generator: str, params: dict[str, Any], key: str, where: str = ""
                ) -> list[str]:
    try:
        make_law(generator, **params)
    except (TypeError, ValueError, KeyError) as err:
        return [f"config key {key}: generator {generator!r} refuses these knobs{where}: {err}. "
                f"Allowed: the arguments of synth.generators.{generator}."]
    return []


def check_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` (first problem found) unless ``config`` is valid."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    message = schema_error(config, schema)
    if message is None:
        errors = cross_field_errors(config)
        message = errors[0] if errors else None
    if message is not None:
        raise ConfigError(message)
