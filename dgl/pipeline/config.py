"""Validation of a study config before any job runs: the JSON schema, then cross-field checks.

Every failure is one :class:`ConfigError` whose message names the offending key (dotted path,
list positions in brackets) and what is allowed there, e.g.

    config key huang2021.overlaps[0]: 1.5 is greater than the maximum of 1.
    Allowed: numbers <= 1 and >= 0 (Overlap ratios rho in [0, 1]; ...).

The schema (workflow/schemas/config.schema.yaml) holds types, ranges, required and unknown
keys; its names (generators, methods, encoders, fusions, optimisers, devices) come from the
registries (:data:`REGISTRIES`), filled in when the schema is loaded. The cross-field checks
hold what a schema cannot express, asking the code that owns each rule: every generator's
knobs are checked by the generator, every method's options by the method, subsets against
the number of modalities, sample-size fractions against the rows they leave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dgl.studies.huang2021 import Huang2021
from dgl.studies.main import expand_variants
from dgl.train.methods import METHODS, make_method
from dgl.train.models import ENCODERS, FUSIONS
from dgl.train.trainer import DEVICES, OPTIMIZERS
from synth.generators import GENERATORS, LawSpec
from synth.law import ClassConditionalGaussianLaw, LinearGaussianLaw
from synth.subsets import parse_subset

#: Where the schema's names come from: `registry: <key>` in a schema node allows these.
REGISTRIES: dict[str, Callable[[], list[str]]] = {
    "generator": GENERATORS.names,
    "method": METHODS.names,
    "encoder": ENCODERS.names,
    "fusion": FUSIONS.names,
    "optimizer": OPTIMIZERS.names,
    "device": lambda: list(DEVICES),
}


class ConfigError(ValueError):
    """A config the workflow refuses, with the key and the allowed values in the message."""


def load_schema(path: str | Path) -> dict:
    """The schema with every ``$ref`` inlined and every ``registry`` node given its names."""
    raw = yaml.safe_load(Path(path).read_text())
    defs = raw.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = defs[node["$ref"].removeprefix("#/$defs/")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        out = {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if "registry" in out:
            out["enum"] = REGISTRIES[out["registry"]]()
        return out

    return resolve(raw)


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


_KINDS = {"regression": LinearGaussianLaw, "classification": ClassConditionalGaussianLaw}


def _law_errors(key: str, law: LawSpec, kind: str | None, where: str = "", **knobs: Any
                ) -> list[str]:
    """The generator's own verdict on its knobs, and that it is a ``kind`` generator (None:
    either kind)."""
    try:
        built = law.build(**knobs)
    except (TypeError, ValueError, KeyError) as err:
        return [f"config key {key}.params: generator {law.generator!r} refuses these knobs"
                f"{where}: {err}. Allowed: the arguments of synth.generators.{law.generator}."]
    if kind is not None and not isinstance(built, _KINDS[kind]):
        return [f"config key {key}.generator: {law.generator!r} is not a {kind} generator. "
                f"Allowed: a generator whose law is a {_KINDS[kind].__name__}."]
    return []


def _huang2021_errors(config: Mapping[str, Any]) -> list[str]:
    section = config["huang2021"]
    study = Huang2021.from_config(section)
    errors = _law_errors("huang2021.law", study.law, "regression", overlap=study.overlaps[0])
    if errors:
        return errors
    k = study.law.build(overlap=study.overlaps[0]).n_modalities
    seen: dict[tuple[int, ...], str] = {}
    for i, text in enumerate(section["subsets"]):
        try:
            subset = parse_subset(text, k)
        except ValueError as err:
            errors.append(f"config key huang2021.subsets[{i}]: {err}. Allowed: subsets of the "
                          f"modalities 1..{k} written like '1+3'.")
            continue
        if subset in seen:
            errors.append(f"config key huang2021.subsets[{i}]: {text!r} is the same subset as "
                          f"{seen[subset]!r}. Allowed: distinct subsets.")
        seen[subset] = text
    return errors


def _ground_truth_errors(config: Mapping[str, Any]) -> list[str]:
    truth = config["ground_truth"]
    cls, reg = truth["classification"], truth["regression"]
    law = LawSpec.from_config(cls["law"])
    errors = []
    for name, snr in cls["snr_settings"].items():
        for syn in cls["synergy"]:
            errors += _law_errors("ground_truth.classification.law", law, "classification",
                                  f" (with snr_settings.{name}, synergy {syn:g})", snr=list(snr),
                                  overlap=cls["overlaps"][0], synergy=syn)
    errors += _law_errors("ground_truth.regression.law", LawSpec.from_config(reg["law"]),
                          "regression", overlap=reg["overlaps"][0])
    return errors


def _main_errors(config: Mapping[str, Any]) -> list[str]:
    section = config["main"]
    law, errors = LawSpec.from_config(section["law"]), []
    for name, knobs in section["regimes"].items():
        errors += _law_errors("main.law", law, "classification", f" (with regimes.{name})",
                              **dict(knobs), overlap=section["overlaps"][0])
    methods = {spec["method"] for spec in section["variants"].values()}
    if not {"joint", "unimodal"} <= methods:
        errors.append("config key main.variants: needs a 'joint' and a 'unimodal' variant (the "
                      f"laziness table compares them); got methods {sorted(methods)}")
    refused: set[str] = set()
    for point in expand_variants(section["variants"]):
        if point.variant in refused:
            continue
        try:
            make_method(point.method, **point.options)
        except (TypeError, ValueError) as err:
            refused.add(point.variant)
            errors.append(f"config key main.variants.{point.variant}: method "
                          f"{point.method!r} refuses options {dict(point.options)}: {err}. "
                          "Allowed: the options its class in dgl.train.methods takes.")
    return errors


def _theory_errors(config: Mapping[str, Any]) -> list[str]:
    section = config["theory"]
    errors = []
    for name, task in section["tasks"].items():
        errors += _law_errors(f"theory.tasks.{name}.law", LawSpec.from_config(task["law"]),
                              None, overlap=section["overlaps"][0])
    n_max = section["splits"]["n_train"]
    for i, f in enumerate(section["fractions"]):
        rows = round(f * n_max)
        if rows < 2:
            errors.append(f"config key theory.fractions[{i}]: {f} of splits.n_train = {n_max} "
                          f"is {rows} rows. Allowed: fractions giving at least 2 rows "
                          f"(>= {2 / n_max:g}).")
    return errors


def cross_field_errors(config: Mapping[str, Any]) -> list[str]:
    """Checks a JSON schema cannot express (run after the schema passed)."""
    return [message for check in (_huang2021_errors, _ground_truth_errors, _main_errors,
                                  _theory_errors) for message in check(config)]


def check_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` (first problem found) unless ``config`` is valid."""
    message = schema_error(config, load_schema(schema_path))
    if message is None:
        errors = cross_field_errors(config)
        message = errors[0] if errors else None
    if message is not None:
        raise ConfigError(message)
