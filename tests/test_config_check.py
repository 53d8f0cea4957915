"""The bad-config catalogue: every case stops before any job runs, with one message naming the
key and what is allowed (dgl.pipeline.config: schema, then cross-field checks)."""

import copy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from dgl.pipeline.config import REGISTRIES, ConfigError, check_config, load_schema
from dgl.train.methods import METHODS
from dgl.train.models import ENCODERS, FUSIONS, ModelConfig
from dgl.train.optimizers import OPTIMIZERS
from dgl.train.trainer import DEVICES, TrainConfig
from synth.generators import GENERATORS

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
    ("overlap below 0", _set("main.overlaps", [-0.1]), "main.overlaps[0]", ">= 0"),
    ("empty subset list", _set("huang2021.subsets", []), "huang2021.subsets", "1+ entries"),
    ("duplicate subsets", _set("huang2021.subsets", ["1", "1"]), "huang2021.subsets",
     "has non-unique elements"),
    ("same subset written twice", _set("huang2021.subsets", ["1+2", "2+1"]),
     "huang2021.subsets[1]", "distinct subsets"),
    ("subset beyond K", _set("huang2021.subsets", ["1+4"]), "huang2021.subsets[0]",
     "modalities 1..3"),
    ("empty subset text", _set("huang2021.subsets", [""]), "huang2021.subsets[0]", "strings"),
    ("unknown method", _set("main.variants.joint", {"method": "late_fusion_plus"}),
     "main.variants.joint.method", "'dgl_pid'"),
    ("unknown method option", _set("main.variants.dgl", {"method": "dgl",
                                                        "options": {"gamma": 2.0}}),
     "main.variants.dgl", "options"),
    ("no joint variant", _set("main.variants.joint", _DELETE), "main.variants", "'joint'"),
    ("OGM-GE window backwards", _set("main.variants.ogm_ge", {
        "method": "ogm_ge", "options": {"starts": 5, "ends": 2}}),
     "main.variants.ogm_ge", "starts <= ends"),
    ("fraction 0", _set("theory.fractions", [0.0, 1.0]), "theory.fractions[0]", "> 0"),
    ("fraction above 1", _set("theory.fractions", [0.5, 1.5]), "theory.fractions[1]", "<= 1"),
    ("fraction leaving < 2 rows", _set("theory.fractions", [0.0001, 1.0]), "theory.fractions[0]",
     "at least 2 training rows"),
    ("negative SNR", _set("main.regimes", {"k2": {"snr": [4.0, -1.0]}}),
     "main.law.params", "snr entries must be positive"),
    ("non-numeric learning rate", _set("huang2021.train.lr", "fast"), "huang2021.train.lr",
     "numbers > 0"),
    ("K = 0", _set("huang2021.law.params.n_modalities", 0), "huang2021.law.params", ">= 1"),
    ("regime without knobs", _set("main.regimes", {"k1": {}}),
     "main.regimes.k1", "should be non-empty"),
    ("regime knob the generator lacks", _set("main.regimes", {"k2": {"snr_db": [4.0, 1.0]}}),
     "main.law.params", "snr_db"),
    ("missing key", _set("theory.splits", _DELETE), "theory",
     "exactly the keys overlaps, seeds, splits"),
    ("missing split key", _set("huang2021.splits.n_test", _DELETE), "huang2021.splits",
     "exactly the keys n_train, n_test, val_fraction"),
    ("unknown key", _set("huang2021.epochs", 10), "huang2021", "the keys law, overlaps"),
    ("seed not an integer", _set("huang2021.seeds", [0, 1.5]), "huang2021.seeds[1]", "integers"),
    ("unknown device", _set("device", "tpu"), "device", "'auto', 'cpu', 'cuda'"),
    ("validation share 1", _set("main.splits.val_fraction", 1.0),
     "main.splits.val_fraction", "< 1"),
    ("synergy 1", _set("ground_truth.classification.synergy", [1.0]),
     "ground_truth.classification.synergy[0]", "< 1"),
    ("unknown encoder", _set("theory.tasks.regression.encoders", ["mlp"]),
     "theory.tasks.regression.encoders[0]", "'linear', 'relu'"),
    ("generator knob refused", _set("main.law.params",
                                    {**SMALL["main"]["law"]["params"], "n_classes": 1}),
     "main.law.params", "n_classes"),
    ("unknown generator knob", _set("theory.tasks.regression.law.params",
                                    {"n_modalities": 2, "dims": 3}),
     "theory.tasks.regression.law.params", "dims"),
    ("unknown generator", _set("huang2021.law.generator", "gaussian_blobs"),
     "huang2021.law.generator", "'huang_overlap', 'latent_classes'"),
    ("classification generator for regression", _set("huang2021.law", {
        "generator": "latent_classes", "params": {"snr": [1.0, 1.0]}}),
     "huang2021.law.generator", "LinearGaussianLaw"),
    ("classification generator for the regression PID", _set("ground_truth.regression.law", {
        "generator": "latent_classes", "params": {"snr": [1.0, 1.0]}}),
     "ground_truth.regression.law.generator", "LinearGaussianLaw"),
    ("budget in epochs", _set("huang2021.train", {"lr": 0.01, "batch_size": 64,
                                                  "max_epochs": 40, "patience": 5,
                                                  "min_delta": 0.0, "weight_decay": 0.0}),
     "huang2021.train", "max_steps"),
    ("relative min_delta above 1", _set("theory.train.min_delta", 2.0),
     "theory.train.min_delta", "<= 1"),
    ("eta fit on too few rows", _set("huang2021.eta.fit_rows", 10), "huang2021.eta.fit_rows",
     ">= 100"),
    ("no eta section", _set("theory.eta", _DELETE), "theory", "eta"),
    ("bottleneck width 0", _set("theory.model.widths", {"linear": 0}),
     "theory.model.widths.linear", ">= 1"),
    ("no theory task", _set("theory.tasks", {}), "theory.tasks", "should be non-empty"),
    ("unknown fusion", _set("main.model", {"width": 8, "fusion": "product"}),
     "main.model.fusion", "'concat', 'sum'"),
    ("unknown optimizer", _set("main.train.optimizer", "lbfgs"),
     "main.train.optimizer", "'adam', 'sgd'"),
    ("two main-study encoders", _set("main.encoders", ["relu", "linear"]),
     "main.encoders", "is too long"),
    ("synergy with one modality", _set("ground_truth.classification.snr_settings",
                                       {"one": [2.0]}),
     "ground_truth.classification.law.params", "synergy needs at least two modalities"),
    # --- NaN and inf: every comparison with NaN is false, so range checks alone pass it
    ("NaN min_delta", _set("theory.train.min_delta", float("nan")), "theory.train.min_delta",
     "finite numbers"),
    ("inf learning rate", _set("huang2021.train.lr", float("inf")), "huang2021.train.lr",
     "finite numbers"),
    ("NaN in a list's second entry", _set("main.overlaps", [0.0, float("nan")]),
     "main.overlaps[1]", "finite numbers"),
    ("NaN in a regime's snr", _set("main.regimes", {"lazy": {"snr": [4.0, float("nan")]}}),
     "main.regimes.lazy.snr[1]", "finite numbers"),
    # --- whole-number floats where integers are meant
    ("n_train as a float", _set("main.splits.n_train", 400.0), "main.splits.n_train",
     "integers"),
    ("seed as a float", _set("theory.seeds", [0, 1.0]), "theory.seeds[1]", "integers"),
    ("max_steps as a float", _set("huang2021.train.max_steps", 320.0),
     "huang2021.train.max_steps", "integers"),
    # --- names and keys
    ("integer setting name", _set("ground_truth.classification.snr_settings",
                                  {1: [2.0, 2.0]}),
     "ground_truth.classification.snr_settings", "strings"),
    ("dash in a regime name", _set("main.regimes", {"la-zy": {"snr": [4.0, 1.0]}}),
     "main.regimes", "matching"),
    # --- grid axes that collide after normalisation to file tags or rows
    ("overlaps sharing a tag", _set("huang2021.overlaps", [0.1234561, 0.1234562]),
     "huang2021.overlaps[0]", "6 significant digits"),
    ("overlap written with an exponent", _set("main.overlaps", [1e-5, 1.0]),
     "main.overlaps[0]", "6 significant digits"),
    ("repeated encoder", _set("theory.tasks.regression.encoders", ["linear", "linear"]),
     "theory.tasks.regression.encoders", "non-unique"),
    ("fractions giving the same rows", _set("main.fractions", [0.1, 0.1001, 1.0]),
     "main.fractions[1]", "distinct row counts"),
    ("repeated seed", _set("main.seeds", [0, 1, 1]), "main.seeds", "non-unique"),
    # --- keys a study would ignore
    ("fixed overlap in params", _set("huang2021.law.params",
                                     {"n_modalities": 3, "dim": 4, "overlap": 0.3}),
     "huang2021.law.params.overlap", "every knob but overlap"),
    ("regime knob also in law.params", _set("main.law.params",
                                            {**SMALL["main"]["law"]["params"], "snr": [1.0, 1.0]}),
     "main.regimes.lazy.snr", "not both"),
    ("ground-truth snr in law.params", _set("ground_truth.classification.law.params", {
        **SMALL["ground_truth"]["classification"]["law"]["params"], "snr": [1.0, 1.0]}),
     "ground_truth.classification.law.params.snr", "every knob but overlap, snr, synergy"),
    # --- generators validated in every study and at every grid value
    ("ground-truth generator knob refused", _set("ground_truth.classification.law.params", {
        **SMALL["ground_truth"]["classification"]["law"]["params"], "n_classes": 1}),
     "ground_truth.classification.law.params", "n_classes"),
    # --- splits
    ("no validation row", _set("huang2021.splits.val_fraction", 0.0001), "huang2021.splits",
     "1 validation row"),
    ("fewer training rows than classes", _set("main.fractions", [0.01, 1.0]),
     "main.fractions[0]", "one per class"),
    # --- tables that could not be built
    ("one-modality theory task", _set("theory.tasks.regression.law.params",
                                      {"n_modalities": 1, "dim": 3, "target_noise_var": 1.0}),
     "theory.tasks.regression.law", "K >= 2"),
    ("one-modality ground-truth setting", lambda c: (
        c["ground_truth"]["classification"].update(synergy=[0.0], snr_settings={"one": [2.0]})),
     "ground_truth.classification.snr_settings.one", "K >= 2"),
    ("no gradient traces", _set("main.train.grad_probe_every", 0),
     "main.train.grad_probe_every", ">= 1"),
    ("beta_clip of one number", _set("main.variants.dgl_pid", {
        "method": "dgl_pid", "options": {"beta_clip": [0.5]}}),
     "main.variants.dgl_pid", "two numbers"),
    # --- paths
    ("empty work_dir", _set("work_dir", ""), "work_dir", "non-empty relative path"),
    ("absolute results_dir", _set("results_dir", "/tmp/results"), "results_dir",
     "non-empty relative path"),
    ("work_dir outside the project", _set("work_dir", "../elsewhere"), "work_dir",
     "without '..'"),
    # --- size guard
    ("2^24 subsets", _set("theory.tasks.regression.law.params",
                          {"n_modalities": 24, "dim": 1, "target_noise_var": 1.0}),
     "theory.tasks.regression.law.params", "allow_large_runs"),
    ("10^12 Monte Carlo samples", _set("ground_truth.max_samples", 10**12),
     "ground_truth.max_samples", "allow_large_runs"),
    ("10^9 training rows", _set("main.splits.n_train", 10**9), "main", "allow_large_runs"),
    ("a dimension of 10^6", _set("huang2021.law.params", {"n_modalities": 3, "dim": 10**6}),
     "huang2021.law.params.dim", "allow_large_runs"),
    ("10^5 nuisance dimensions", _set("main.regimes", {"lazy": {"snr": [4.0, 1.0],
                                                                "nuisance_dims": [0, 10**5]}}),
     "main.regimes.lazy.nuisance_dims[1]", "allow_large_runs"),
    ("200 x 200 x 200 theory sweep", lambda c: c["theory"].update(
        overlaps=[i / 200 for i in range(200)], fractions=[(i + 1) / 200 for i in range(200)],
        seeds=list(range(200))), "(top level)", "allow_large_runs"),
]


def test_the_catalogue_has_at_least_40_cases():
    assert len(CATALOGUE) >= 40 and len({c[0] for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case, flag", [("2^24 subsets", "allow_large_runs"),
                                        ("10^9 training rows", "allow_large_runs"),
                                        ("absolute results_dir", "allow_external_paths")])
def test_explicit_flags_lift_the_size_guard_and_the_path_rule(case, flag):
    """The size guard and the path rule refuse by default and pass once their flag is set."""
    change = next(c[1] for c in CATALOGUE if c[0] == case)
    cfg = copy.deepcopy(SMALL)
    change(cfg)
    with pytest.raises(ConfigError):
        check_config(cfg, SCHEMA)
    cfg[flag] = True
    check_config(cfg, SCHEMA)


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


def _nodes(node):
    """Every dict node of a schema."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def test_schema_names_come_from_the_registries():
    """The schema file lists no registered name; the checked schema allows exactly the
    registries' names wherever a name is asked for."""
    raw = yaml.safe_load(SCHEMA.read_text())
    registered = {n for names in REGISTRIES.values() for n in names()}
    for node in _nodes(raw):
        assert not set(node.get("enum", [])) & registered, node
    assert {raw["$defs"][key]["registry"] for key in REGISTRIES} == set(REGISTRIES)
    schema = load_schema(SCHEMA)
    imb = schema["properties"]["main"]["properties"]
    assert imb["variants"]["additionalProperties"]["properties"]["method"]["enum"] == \
        METHODS.names()
    assert imb["encoders"]["items"]["enum"] == ENCODERS.names() == ["linear", "relu"]
    assert imb["law"]["properties"]["generator"]["enum"] == GENERATORS.names()
    assert imb["model"]["properties"]["fusion"]["enum"] == FUSIONS.names()
    assert imb["train"]["properties"]["optimizer"]["enum"] == OPTIMIZERS.names()
    assert schema["properties"]["device"]["enum"] == sorted(DEVICES)
    with_registry = [n for n in _nodes(schema) if "registry" in n]
    assert with_registry and all(n["enum"] == REGISTRIES[n["registry"]]() for n in with_registry)


def test_schema_defaults_are_the_code_defaults():
    """What the schema says a missing key means is what the code does."""
    defs = yaml.safe_load(SCHEMA.read_text())["$defs"]
    for key in ("optimizer", "momentum", "grad_probe_every", "val_every_steps"):
        assert defs["train"]["properties"][key]["default"] == getattr(TrainConfig(), key)
    assert defs["model"]["properties"]["fusion"]["default"] == \
        ModelConfig((1,), 1, "linear", 1).fusion


#: One case of each class the workflow itself is run on (the rest go through check_config,
#: which the workflow calls before any job).
WORKFLOW_CASES = ["overlap above 1", "same subset written twice", "unknown key",
                  "NaN min_delta", "n_train as a float", "overlaps sharing a tag",
                  "repeated seed", "fractions giving the same rows", "fixed overlap in params",
                  "no validation row", "one-modality theory task", "2^24 subsets",
                  "empty work_dir", "dash in a regime name"]


@pytest.fixture(scope="module")
def workflow_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Snakemake run on the config of every case of WORKFLOW_CASES, two at a time: each run
    is mostly a Python start and the workflow's imports (about 6 s of one core), and one at a
    time they took 90 s of CI. Case -> (the finished process, its run directory)."""
    jobs = []
    for i, case in enumerate(WORKFLOW_CASES):
        change = next(c[1] for c in CATALOGUE if c[0] == case)
        cfg = copy.deepcopy(SMALL)
        change(cfg)
        folder = tmp_path_factory.mktemp(f"case{i}")
        (folder / "bad.yaml").write_text(yaml.safe_dump(cfg))
        jobs.append((folder / "bad.yaml", folder / "run"))

    def run(job: tuple[Path, Path]) -> tuple[subprocess.CompletedProcess, Path]:
        config, directory = job
        return subprocess.run(
            [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
             "--configfile", str(config), "--directory", str(directory), "--cores", "1"],
            capture_output=True, text=True, timeout=120, check=False), directory

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(WORKFLOW_CASES, pool.map(run, jobs)))


@pytest.mark.parametrize("case", WORKFLOW_CASES)
def test_snakemake_stops_before_any_job(case, workflow_runs):
    """Exit code 1, one line naming the key, no traceback, nothing written."""
    key = next(c[2] for c in CATALOGUE if c[0] == case)
    proc, run = workflow_runs[case]
    assert proc.returncode == 1
    assert f"config key {key}" in proc.stderr
    assert 'File "' not in proc.stderr and "Traceback" not in proc.stderr  # one line, no trace
    assert not (run / "work").exists() and not (run / "results").exists()


def _snakemake_dry_run(config_text: str, tmp_path: Path, default: bool = False):
    """A dry run with the config ``config_text`` given by --configfile, in a directory that
    also holds the repository's default config.yaml when ``default``."""
    run = tmp_path / "run"
    run.mkdir()
    if default:
        (run / "config.yaml").write_text((ROOT / "config.yaml").read_text())
    (tmp_path / "given.yaml").write_text(config_text)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", str(tmp_path / "given.yaml"), "--directory", str(run), "-n"],
        capture_output=True, text=True, timeout=120)


def test_a_given_config_is_not_merged_into_the_default(tmp_path):
    """With --configfile, config.yaml contributes nothing: a config without a theory
    section is refused (merged, it would have run the default theory study)."""
    cfg = copy.deepcopy(SMALL)
    del cfg["theory"]
    proc = _snakemake_dry_run(yaml.safe_dump(cfg), tmp_path, default=True)
    assert proc.returncode != 0
    assert "config key (top level): 'theory' is a required property" in proc.stderr


def test_a_key_written_twice_is_refused(tmp_path):
    text = (ROOT / "tests" / "config" / "small.yaml").read_text() + "device: cuda\n"
    proc = _snakemake_dry_run(text, tmp_path)
    assert proc.returncode != 0
    assert "config key 'device' is written twice" in proc.stderr
    assert 'File "' not in proc.stderr
