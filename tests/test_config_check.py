"""The bad-config catalogue: every case stops before any job runs, with one message naming the
key and what is allowed (dgl.config_check: schema, then cross-field checks)."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dgl.config_check import ConfigError, check_config
from dgl.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SMALL = yaml.safe_load((ROOT / "tests" / "config" / "small.yaml").read_text())


def _set(path: str, value):
    def apply(cfg):
        *parents, leaf = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return apply


_DELETE = object()

#: (case, change to the small config, key named in the message, words of the allowed values)
CATALOGUE = [
    ("overlap above 1", _set("huang2021.overlaps", [1.5, 0.0]), "huang2021.overlaps[0]", "<= 1"),
    ("overlap below 0", _set("imbalance.overlaps", [-0.1]), "imbalance.overlaps[0]", ">= 0"),
    ("empty subset list", _set("huang2021.subsets", []), "huang2021.subsets", "1+ entries"),
    ("duplicate subsets", _set("huang2021.subsets", ["1", "1"]), "huang2021.subsets",
     "has non-unique elements"),
    ("same subset written twice", _set("huang2021.subsets", ["1+2", "2+1"]),
     "huang2021.subsets[1]", "distinct subsets"),
    ("subset beyond K", _set("huang2021.subsets", ["1+4"]), "huang2021.subsets[0]",
     "modalities 1..3"),
    ("empty subset text", _set("huang2021.subsets", [""]), "huang2021.subsets[0]", "strings"),
    ("unknown method", _set("imbalance.variants.joint", {"method": "late_fusion_plus"}),
     "imbalance.variants.joint.method", "'dgl_pid'"),
    ("unknown method option", _set("imbalance.variants.dgl", {"method": "dgl",
                                                             "options": {"gamma": 2.0}}),
     "imbalance.variants.dgl", "options"),
    ("fraction 0", _set("theory.fractions", [0.0, 1.0]), "theory.fractions[0]", "> 0"),
    ("fraction above 1", _set("theory.fractions", [0.5, 1.5]), "theory.fractions[1]", "<= 1"),
    ("fraction leaving < 2 rows", _set("theory.fractions", [0.0001, 1.0]), "theory.fractions[0]",
     "at least 2 rows"),
    ("negative SNR", _set("imbalance.settings", {"k2": [4.0, -1.0]}), "imbalance.settings.k2[1]",
     "> 0"),
    ("non-numeric learning rate", _set("huang2021.train.lr", "fast"), "huang2021.train.lr",
     "numbers > 0"),
    ("K = 0", _set("huang2021.n_modalities", 0), "huang2021.n_modalities", ">= 1"),
    ("one-modality imbalance setting", _set("imbalance.settings", {"k1": [4.0]}),
     "imbalance.settings.k1", "2+ entries"),
    ("missing key", _set("theory.n_eval", _DELETE), "theory", "exactly the keys seeds"),
    ("unknown key", _set("huang2021.epochs", 10), "huang2021", "the keys generator, n_modalities"),
    ("seed not an integer", _set("huang2021.seeds", [0, 1.5]), "huang2021.seeds[1]", "integers"),
    ("unknown device", _set("device", "tpu"), "device", "'cpu', 'cuda', 'auto'"),
    ("validation share 1", _set("imbalance.val_fraction", 1.0), "imbalance.val_fraction", "< 1"),
    ("synergy 1", _set("ground_truth.classification.synergy", [1.0]),
     "ground_truth.classification.synergy[0]", "< 1"),
    ("unknown encoder", _set("theory.regression.encoders", ["mlp"]),
     "theory.regression.encoders[0]", "'linear', 'relu'"),
    ("generator knob refused", _set("imbalance.params", {**SMALL["imbalance"]["params"],
                                                         "n_classes": 1}),
     "imbalance.params", "n_classes"),
    ("unknown generator knob", _set("theory.regression.params", {"n_modalities": 2, "dims": 3}),
     "theory.regression.params", "dims"),
]


def test_the_catalogue_has_at_least_15_cases():
    assert len(CATALOGUE) >= 15 and len({c[0] for c in CATALOGUE}) == len(CATALOGUE)


def test_default_and_small_configs_pass():
    check_config(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMA)
    check_config(copy.deepcopy(SMALL), SCHEMA)


@pytest.mark.parametrize("case, change, key, allowed", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_config_names_key_and_allowed_values(case, change, key, allowed):
    cfg = copy.deepcopy(SMALL)
    change(cfg)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, SCHEMA)
    message = str(err.value)
    assert message.startswith(f"config key {key}:"), message
    assert allowed in message, message
    assert "\n" not in message


def test_schema_method_names_are_the_registry():
    schema = yaml.safe_load(SCHEMA.read_text())
    variant = schema["properties"]["imbalance"]["properties"]["variants"]["additionalProperties"]
    assert sorted(variant["properties"]["method"]["enum"]) == METHODS.names()


@pytest.mark.parametrize("case", ["overlap above 1", "same subset written twice", "unknown key"])
def test_snakemake_stops_before_any_job(case, tmp_path):
    change = next(c[1] for c in CATALOGUE if c[0] == case)
    cfg = copy.deepcopy(SMALL)
    change(cfg)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", str(tmp_path / "bad.yaml"), "--directory", str(run), "--cores", "1"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "config key " in proc.stderr
    assert not (run / "work").exists() and not (run / "results").exists()
