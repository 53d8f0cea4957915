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

import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dgl.studies.common import fraction_counts, overlap_name
from dgl.studies.huang2021 import Huang2021
from dgl.studies.main import MainStudy, expand_variants
from dgl.studies.theory import Theory
from dgl.train.methods import METHODS, make_method
from dgl.train.models import ENCODERS, FUSIONS
from dgl.train.optimizers import OPTIMIZERS
from dgl.train.trainer import DEVICES
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
    if "pattern" in schema:
        bounds.append(f"matching {schema['pattern']}")
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


def _is_integer(_checker, instance: Any) -> bool:
    """A YAML integer only: 600.0 is a float (the schema's 'integer' is strict)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


#: The JSON-schema validator with a strict 'integer' (jsonschema counts 600.0 as one).
StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def schema_error(config: dict, schema: dict) -> str | None:
    """The most relevant schema violation as one message, or None."""
    validator = StrictValidator(schema)
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


def _law_errors_at(key: str, law: LawSpec, kind: str | None, overlaps: list[float],
                   where: str = "", **knobs: Any) -> list[str]:
    """:func:`_law_errors` at every overlap of the grid (a knob may be refused at one only)."""
    for rho in overlaps:
        errors = _law_errors(key, law, kind, where + (f" at overlap {rho:g}" if rho != overlaps[0]
                                                      else ""), overlap=rho, **knobs)
        if errors:
            return errors
    return []


def _huang2021_errors(config: Mapping[str, Any]) -> list[str]:
    section = config["huang2021"]
    study = Huang2021.from_config(section)
    errors = _law_errors_at("huang2021.law", study.law, "regression", list(study.overlaps))
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
            errors += _law_errors_at("ground_truth.classification.law", law, "classification",
                                     cls["overlaps"], f" (with snr_settings.{name}, synergy "
                                     f"{syn:g})", snr=list(snr), synergy=syn)
    errors += _law_errors_at("ground_truth.regression.law", LawSpec.from_config(reg["law"]),
                             "regression", reg["overlaps"])
    return errors


def _main_errors(config: Mapping[str, Any]) -> list[str]:
    section = config["main"]
    law, errors = LawSpec.from_config(section["law"]), []
    for name, knobs in section["regimes"].items():
        errors += _law_errors_at("main.law", law, "classification", section["overlaps"],
                                 f" (with regimes.{name})", **dict(knobs))
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
        errors += _law_errors_at(f"theory.tasks.{name}.law", LawSpec.from_config(task["law"]),
                                 None, section["overlaps"])
    return errors


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any, Any]]:
    """Every (path, key, value) of a nested config (key None for list entries and the root)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*path, i), None, value
            yield from _walk(value, (*path, i))


def value_errors(config: Mapping[str, Any]) -> list[str]:
    """Checked before the schema, which cannot see them: NaN or inf anywhere (every
    comparison with NaN is false, so a range check lets it through), and keys that are not
    strings."""
    out = []
    for path, key, value in _walk(dict(config)):
        if key is not None and not isinstance(key, str):
            out.append(f"config key {_key(path)}: the key {key!r} is a {type(key).__name__}. "
                       "Allowed: keys that are strings.")
        elif isinstance(value, float) and not math.isfinite(value):
            where = _key((*path, key) if key is not None else path)
            out.append(f"config key {where}: {value!r} is not a finite number. Allowed: "
                       "finite numbers.")
    return out


#: An overlap's file tag must read back as the overlap itself: rho<decimal>, no exponent.
_TAG = re.compile(r"^rho[0-9]+(\.[0-9]+)?$")

#: Every list of overlaps in a config.
OVERLAP_KEYS = ("huang2021.overlaps", "main.overlaps", "theory.overlaps",
                "ground_truth.classification.overlaps", "ground_truth.regression.overlaps")


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def tag_errors(config: Mapping[str, Any]) -> list[str]:
    """Grid axes whose values would share a file name or a set of rows: overlaps whose file
    tag (rho<value>) is not exact or is another overlap's, and sample-size fractions that
    give the same number of rows (or the same cell name)."""
    out = []
    for dotted in OVERLAP_KEYS:
        seen: dict[str, int] = {}
        for i, rho in enumerate(_get(config, dotted)):
            tag = overlap_name(rho)
            if not _TAG.match(tag) or float(tag[3:]) != float(rho):
                out.append(f"config key {dotted}[{i}]: {rho!r} is written {tag!r} in file names, "
                           "which does not read back as the same overlap. Allowed: overlaps "
                           "with at most 6 significant digits, 0 or >= 1e-4.")
            elif tag in seen:
                out.append(f"config key {dotted}[{i}]: {rho!r} shares the file tag {tag!r} "
                           f"with {dotted}[{seen[tag]}]. Allowed: overlaps with distinct tags.")
            seen.setdefault(tag, i)
    for study in ("main", "theory"):
        splits, seen_rows = config[study]["splits"], {}
        for i, f in enumerate(config[study]["fractions"]):
            rows = fraction_counts(splits["n_train"], splits["val_fraction"], f)[0]
            key = (rows, f"{f:g}")
            clash = next((j for k, j in seen_rows.items() if k[0] == key[0] or k[1] == key[1]),
                         None)
            if clash is not None:
                out.append(f"config key {study}.fractions[{i}]: {f!r} gives the same "
                           f"{key[0]} training rows (or cell name f{key[1]}) as "
                           f"{study}.fractions[{clash}]. Allowed: fractions giving distinct "
                           "row counts.")
            seen_rows.setdefault(key, i)
    return out


#: Laws a study builds at knobs of its own, which a fixed value in law.params cannot reach.
STUDY_KNOBS = {"huang2021.law": ("overlap",), "main.law": ("overlap",),
               "ground_truth.classification.law": ("overlap", "snr", "synergy"),
               "ground_truth.regression.law": ("overlap",)}


def _study_laws(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Every ``law`` of a config (dotted key) with the knobs its study sets itself."""
    return {**STUDY_KNOBS, **{f"theory.tasks.{name}.law": ("overlap",)
                              for name in config["theory"]["tasks"]}}


def ignored_key_errors(config: Mapping[str, Any]) -> list[str]:
    """Knobs written where the study overrides them, so they would be silently dropped: a
    fixed overlap (snr, synergy in the ground truth's grid) in law.params, and a main-study
    knob set both in law.params and by a regime."""
    out = []
    for dotted, knobs in _study_laws(config).items():
        params = _get(config, dotted).get("params") or {}
        out += [f"config key {dotted}.params.{knob}: the study sets {knob} itself (from its "
                "grid), so this value would be ignored. Allowed: every knob but "
                f"{', '.join(knobs)}." for knob in knobs if knob in params]
    shared = config["main"]["law"].get("params") or {}
    for name, regime in config["main"]["regimes"].items():
        out += [f"config key main.regimes.{name}.{knob}: also set in main.law.params, which "
                "this regime overrides. Allowed: a knob in law.params (every regime) or in "
                "the regimes, not both." for knob in regime if knob in shared]
    return out


#: The fewest rows a model may train on and validate on (classification: per class too).
MIN_FIT_ROWS, MIN_VAL_ROWS = 2, 1


def _n_classes(law: LawSpec, **knobs: Any) -> int:
    """The law's number of classes (0: regression, or a law its own check refuses)."""
    try:
        return int(getattr(law.build(**knobs), "n_classes", 0))
    except (TypeError, ValueError, KeyError):
        return 0


def split_errors(config: Mapping[str, Any]) -> list[str]:
    """Every model must keep at least MIN_FIT_ROWS training rows (and one per class) and
    MIN_VAL_ROWS validation rows, at every fraction."""
    main_law = LawSpec.from_config(config["main"]["law"])
    main_classes = max(_n_classes(main_law, **r, overlap=0.0)
                       for r in config["main"]["regimes"].values())
    theory_classes = max(
        _n_classes(LawSpec.from_config(t["law"]), overlap=0.0)
        for t in config["theory"]["tasks"].values())
    studies = {"huang2021": ([1.0], 0), "main": (config["main"]["fractions"], main_classes),
               "theory": (config["theory"]["fractions"], theory_classes)}
    out = []
    for study, (fractions, classes) in studies.items():
        section = config[study]["splits"]
        for i, f in enumerate(fractions):
            if study == "huang2021":  # no fractions: its splits as Splits counts them
                n, n_val = section["n_train"], round(section["val_fraction"] * section["n_train"])
            else:
                n, n_val = fraction_counts(section["n_train"], section["val_fraction"], f)
            need = max(MIN_FIT_ROWS, classes)
            if n - n_val < need or n_val < MIN_VAL_ROWS:
                where = f"{study}.splits" if study == "huang2021" else f"{study}.fractions[{i}]"
                out.append(f"config key {where}: leaves {n - n_val} training and {n_val} "
                           f"validation rows per model (splits.n_train {section['n_train']}, "
                           f"val_fraction {section['val_fraction']:g}). Allowed: at least "
                           f"{need} training rows (one per class) and {MIN_VAL_ROWS} "
                           "validation row.")
    return out


def modality_count_errors(config: Mapping[str, Any]) -> list[str]:
    """Studies whose tables compare modalities need K >= 2: the theory tasks (gamma compares
    nested subsets), the main study (fusion and a weak modality) and the ground truth's PID."""
    out = []
    laws = {f"theory.tasks.{n}.law": (LawSpec.from_config(t["law"]), {})
            for n, t in config["theory"]["tasks"].items()}
    main = config["main"]
    laws.update({f"main.regimes.{n}": (LawSpec.from_config(main["law"]), dict(r))
                 for n, r in main["regimes"].items()})
    laws["ground_truth.regression.law"] = (
        LawSpec.from_config(config["ground_truth"]["regression"]["law"]), {})
    for key, (law, knobs) in laws.items():
        k = law.build(**knobs, overlap=0.0).n_modalities
        if k < 2:
            out.append(f"config key {key}: gives K = {k} modality. Allowed: K >= 2 (the "
                       "tables compare modalities and subsets).")
    for name, snr in config["ground_truth"]["classification"]["snr_settings"].items():
        if len(snr) < 2:
            out.append(f"config key ground_truth.classification.snr_settings.{name}: K = 1 "
                       "modality. Allowed: K >= 2 entries (the PID splits information between "
                       "modalities).")
    if config["main"]["train"].get("grad_probe_every", 0) < 1:
        out.append("config key main.train.grad_probe_every: 0 records no gradient norms, but "
                   "the main study's gradient table reads them. Allowed: integers >= 1.")
    return out


#: The largest integer generator knob (a dimension, a class count) the guard lets through
#: before any law is built (building one allocates its covariance).
MAX_KNOB = 10_000


def knob_size_errors(config: Mapping[str, Any]) -> list[str]:
    """Integer generator knobs (law.params, main-study regimes, list entries included) above
    MAX_KNOB, refused before any law is built, unless allow_large_runs is set."""
    if config.get("allow_large_runs", False):
        return []
    nodes = {f"{k}.params": _get(config, k).get("params") or {} for k in _study_laws(config)}
    nodes.update({f"main.regimes.{n}": r for n, r in config["main"]["regimes"].items()})
    out = []
    for where, node in nodes.items():
        for path, key, value in _walk(dict(node)):
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_KNOB:
                name = _key((where, *path, key) if key is not None else (where, *path))
                out.append(f"config key {name}: {value} is above the guard's {MAX_KNOB} for a "
                           "generator knob (its law would not fit in memory). Allowed: "
                           f"<= {MAX_KNOB}, or allow_large_runs: true.")
    return out


def path_errors(config: Mapping[str, Any]) -> list[str]:
    """work_dir and results_dir: non-empty relative paths that stay inside the project (the
    directory Snakemake runs in), unless allow_external_paths is set."""
    if config.get("allow_external_paths", False):
        return []
    out = []
    for key in ("work_dir", "results_dir"):
        path = Path(config[key])
        if not config[key].strip() or path.is_absolute() or ".." in path.parts \
                or path == Path("."):
            out.append(f"config key {key}: {config[key]!r} is empty, absolute, the project "
                       "directory itself or leads out of it. Allowed: a non-empty relative "
                       "path inside the project without '..' (or set allow_external_paths: "
                       "true).")
    return out


def count_models(cfg: dict) -> dict[str, int]:
    """Models trained by each study of a config."""
    h = cfg["huang2021"]
    huang = len(h["overlaps"]) * len(h["encoders"]) * len(h["seeds"]) * len(h["subsets"])
    ms = MainStudy.from_config(cfg["main"])
    per_dataset = sum(
        sum(len(ms.regime_law(r).build(overlap=0.0).modality_dims) if v.method == "unimodal"
            else 1 for v in ms.variants) for r in ms.regimes)
    main = per_dataset * len(ms.overlaps) * len(ms.seeds) * len(ms.fractions)
    th = Theory.from_config(cfg["theory"])
    k = th.n_modalities()
    per = len(th.overlaps) * len(th.fractions) * len(th.seeds)
    theory = per * sum(len(th.tasks[t].encoders) * (2 ** k[t] - 1) for t in th.tasks)
    return {"huang2021": huang, "main": main, "theory": theory}


#: The size guard's limits (lifted by allow_large_runs: true).
SIZE_LIMITS = {"jobs": 5000, "job_bytes": 8 * 2**30, "mc_samples": 50_000_000, "subsets": 1023,
               "models": 100_000}


def _input_dim(law: LawSpec, **knobs: Any) -> int:
    return int(sum(law.build(**knobs).modality_dims))


def _job_bytes(config: Mapping[str, Any]) -> dict[str, float]:
    """Float32 bytes of the data one job holds (its data files, and the fresh rows of its
    best-head fits), per study."""
    h, m, t = config["huang2021"], config["main"], config["theory"]

    def rows(section: Mapping[str, Any]) -> int:
        return section["splits"]["n_train"] + section["splits"]["n_test"]

    def fresh(section: Mapping[str, Any]) -> int:
        return section["eta"]["fit_rows"] + section["eta"]["val_rows"]

    main_dim = max(_input_dim(LawSpec.from_config(m["law"]), **r, overlap=0.0)
                   for r in m["regimes"].values())
    theory_dim = max(_input_dim(LawSpec.from_config(x["law"]), overlap=0.0)
                     for x in t["tasks"].values())
    return {
        "huang2021": 4.0 * len(h["seeds"]) * rows(h)
        * _input_dim(LawSpec.from_config(h["law"]), overlap=0.0),
        "main": 4.0 * len(m["overlaps"]) * len(m["seeds"]) * (rows(m) + fresh(m)) * main_dim,
        "theory": 4.0 * len(t["seeds"]) * (rows(t) + fresh(t)) * theory_dim}


def _job_count(config: Mapping[str, Any]) -> int:
    h, m, t, g = (config[k] for k in ("huang2021", "main", "theory", "ground_truth"))
    theory = sum(len(x["encoders"]) for x in t["tasks"].values()) * len(t["overlaps"])
    settings = len(g["classification"]["snr_settings"])
    return (2 * len(h["overlaps"]) * len(h["encoders"]) + len(h["overlaps"])
            + 2 * len(m["regimes"]) * len(m["fractions"]) + len(m["regimes"]) * len(m["overlaps"])
            + 3 * theory + settings + len(t["tasks"]) * len(t["overlaps"]))


def size_errors(config: Mapping[str, Any]) -> list[str]:
    """Refuse a config whose jobs would need more memory, or whose run more subsets, models,
    jobs or Monte Carlo samples, than :data:`SIZE_LIMITS` (unless allow_large_runs: true)."""
    if config.get("allow_large_runs", False):
        return []
    lift = " Allowed: a smaller config, or allow_large_runs: true."
    out = [f"config key {study}: a job would hold about {size / 2**30:.1f} GiB of data "
           f"(seeds x rows x input dimensions, float32), above the guard's "
           f"{SIZE_LIMITS['job_bytes'] / 2**30:.0f} GiB.{lift}"
           for study, size in _job_bytes(config).items() if size > SIZE_LIMITS["job_bytes"]]
    for name, task in config["theory"]["tasks"].items():
        k = LawSpec.from_config(task["law"]).build(overlap=0.0).n_modalities
        if 2**k - 1 > SIZE_LIMITS["subsets"]:
            out.append(f"config key theory.tasks.{name}.law.params: K = {k} modalities make "
                       f"{2**k - 1} subsets to train, above the guard's "
                       f"{SIZE_LIMITS['subsets']}.{lift}")
    models = sum(count_models(config).values())
    if models > SIZE_LIMITS["models"]:
        out.append(f"config key (top level): the grid trains {models} models, above the "
                   f"guard's {SIZE_LIMITS['models']}.{lift}")
    jobs = _job_count(config)
    if jobs > SIZE_LIMITS["jobs"]:
        out.append(f"config key (top level): the grid makes about {jobs} jobs, above the "
                   f"guard's {SIZE_LIMITS['jobs']}.{lift}")
    if config["ground_truth"]["max_samples"] > SIZE_LIMITS["mc_samples"]:
        out.append(f"config key ground_truth.max_samples: {config['ground_truth']['max_samples']}"
                   f" Monte Carlo samples per setting, above the guard's "
                   f"{SIZE_LIMITS['mc_samples']}.{lift}")
    return out


def cross_field_errors(config: Mapping[str, Any]) -> list[str]:
    """Checks a JSON schema cannot express (run after the schema passed)."""
    checks = (knob_size_errors, split_errors, _huang2021_errors, _ground_truth_errors,
              _main_errors, _theory_errors, tag_errors, ignored_key_errors, modality_count_errors,
              path_errors, size_errors)
    for check in checks:
        errors = check(config)
        if errors:  # later checks may rely on what earlier ones refused
            return errors
    return []


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (YAML keeps the last)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"config key {key!r} is written twice in {loader.name}, line "
                              f"{key_node.start_mark.line + 1}. Allowed: each key once per "
                              "mapping (YAML would silently keep the last).")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def check_config_files(paths: list[str | Path]) -> None:
    """Raise :class:`ConfigError` if a config file writes a key twice in one mapping."""
    for path in paths:
        with open(path) as handle:
            loader = _UniqueKeyLoader(handle)
            loader.name = str(path)
            try:
                loader.get_single_data()
            finally:
                loader.dispose()


def check_config(config: dict, schema_path: str | Path, files: list[str | Path] = ()) -> None:
    """Raise :class:`ConfigError` (first problem found) unless ``config`` is valid: keys
    written twice in its ``files``, values the schema cannot see (NaN, non-string keys), the
    schema, then cross-field checks."""
    check_config_files(list(files))
    errors = value_errors(config)
    message = errors[0] if errors else schema_error(config, load_schema(schema_path))
    if message is None:
        errors = cross_field_errors(config)
        message = errors[0] if errors else None
    if message is not None:
        raise ConfigError(message)
