"""A stack's plan, its training and its record: seeds from the plan, the one training function,
the save/load round trip through plain tensors (weights_only), and the rebuilt stack."""

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from dgl.pipeline.io import (IntermediateError, load_datasets, load_stacks, record, save_datasets,
                            save_stacks)
from dgl.train.models import ModelConfig
from dgl.train.stack import (CellSpec, StackPlan, _merge_key, _merged_options, restore,
                             train_plan, train_plans)
from dgl.train.trainer import TrainConfig
from synth import make_law
from synth.datasets import Datasets, Splits, draw_datasets
from synth.seeding import derive_seed


def classification_data() -> tuple[Datasets, ModelConfig]:
    law = make_law("latent_classes", snr=[2.0, 0.5], n_classes=3, shared_dim=2, unique_dim=2,
                   nuisance_dims=1)
    parts = [draw_datasets(law, rho, [0, 1], 260) for rho in (0.0, 1.0)]
    return Datasets.concat(parts), ModelConfig(law.modality_dims, 4, "relu", 3)


def plan(method: str = "dgl_pid", **options) -> StackPlan:
    _, model = classification_data()
    specs = tuple(CellSpec(rho, seed, "1+2") for rho in (1.0, 0.0) for seed in (1, 0))
    return StackPlan(task="classification", model=model, specs=specs,
                     splits=Splits(200, 60, 0.25),
                     train=TrainConfig(lr=0.05, batch_size=50, max_steps=9, patience_steps=9,
                                       optimizer="sgd", grad_probe_every=2),
                     tag=f"{method}_test", method=method, options=options, variant=method)


def test_seeds_come_from_each_models_spec_and_the_tag():
    p = plan()
    assert p.seeds("init") == tuple(derive_seed(s.seed, "init", "1+2", "dgl_pid_test")
                                    for s in p.specs)
    # the same seed at another overlap draws the same numbers (common random numbers)
    assert p.seeds("init")[:2] == p.seeds("init")[2:]
    assert len(set(p.seeds("init") + p.seeds("order"))) == 4
    ogm = plan("ogm_ge", alpha=0.5)
    assert ogm.method_options() == {"alpha": 0.5,
                                    "seed": derive_seed(1, "ogm_noise", "ogm_ge_test")}
    assert plan("dgl", alpha=2.0).method_options() == {"alpha": 2.0}


def test_models_read_the_dataset_of_their_key_not_their_position():
    data, _ = classification_data()
    p = plan("joint")
    flipped = Datasets.concat([Datasets(data.x[2:], data.y[2:], data.keys[2:]),
                               Datasets(data.x[:2], data.y[:2], data.keys[:2])])
    a, b = train_plan(p, data), train_plan(p, flipped)
    for name, value in a.state.items():
        torch.testing.assert_close(value, b.state[name], rtol=0, atol=0)


def test_trained_stack_round_trip(tmp_path):
    data, _ = classification_data()
    stack = train_plan(plan(), data)
    assert stack.extra_state is not None and stack.grad_multi is not None
    save_stacks(tmp_path / "runs.pt", [stack, stack])
    loaded = load_stacks(tmp_path / "runs.pt")
    assert len(loaded) == 2
    back = loaded[0]
    assert back.plan == stack.plan
    for name in ("init_seeds", "order_seeds", "diverged", "converged", "best_epoch",
                 "best_step", "epochs_run", "steps_run", "train_seconds", "history", "device",
                 "grad_steps"):
        assert getattr(back, name) == getattr(stack, name), name
    for a, b in ((back.state, stack.state), (back.extra_state, stack.extra_state)):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(back.grad_multi, stack.grad_multi)
    assert torch.equal(back.grad_uni, stack.grad_uni)
    x = torch.as_tensor(data.x[[data.index(s.overlap, s.seed) for s in stack.plan.specs]])
    torch.testing.assert_close(restore(back).logits(x), restore(stack).logits(x), rtol=0, atol=0)


def test_a_planted_pickle_is_refused(tmp_path):
    """A file under work/ that would run code when unpickled is refused, not executed."""
    class Planted:
        def __reduce__(self):
            return (print, ("this ran",))

    path = tmp_path / "runs.pt"
    torch.save([Planted()], path)
    with pytest.raises(IntermediateError, match="no record"):  # no record written with it
        load_stacks(path)
    record(path)  # even with a forged record, weights_only=True refuses to run the pickle
    with pytest.raises(pickle.UnpicklingError):
        load_stacks(path)


def test_datasets_round_trip(tmp_path):
    data, _ = classification_data()
    save_datasets(tmp_path / "a.npz", Datasets(data.x[:2], data.y[:2], data.keys[:2]))
    save_datasets(tmp_path / "b.npz", Datasets(data.x[2:], data.y[2:], data.keys[2:]))
    back = load_datasets([tmp_path / "a.npz", tmp_path / "b.npz"])
    assert back.keys == data.keys
    assert np.array_equal(back.x, data.x) and np.array_equal(back.y, data.y)


def test_dataset_rows_are_a_view_when_consecutive():
    """Consecutive rows (e.g. every row of a fraction-1 cell) are a view of the datasets, not
    a copy; any other rows a copy; the values are those of plain indexing either way."""
    x = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)
    data = Datasets(x, np.arange(12).reshape(2, 6), ((0.0, 0), (0.0, 1)))
    for rows, view in ((np.arange(1, 5), True), (np.r_[0:2, 4:6], False),
                       (np.array([3, 2]), False)):
        part = data.rows(rows)
        assert np.shares_memory(part.x, x) is view
        assert np.array_equal(part.x, x[:, rows]) and np.array_equal(part.y, data.y[:, rows])


def sweep(method: str, name: str, values: list[float], **options) -> list[StackPlan]:
    """The points of a sweep of ``name`` (plans that train as one stack), with a budget under
    which models stop early at different steps."""
    budget = TrainConfig(lr=0.05, batch_size=50, max_steps=60, patience_steps=6,
                         optimizer="sgd", grad_probe_every=4)
    return [dataclasses.replace(plan(method, **{name: v}, **options), train=budget,
                                tag=f"{method}_{name}{v}", variant=method) for v in values]


def test_sweep_points_trained_together_equal_each_trained_alone():
    """train_plans trains the points of a dgl sweep as one stack: each point's record (its
    parameters, steps, epochs, checkpoints, flags and gradient trace) is the one its plan
    alone gives, up to float rounding (as a stack against its models one at a time)."""
    data, _ = classification_data()
    plans = sweep("dgl", "alpha", [0.5, 4.0])
    together = train_plans(plans, data)
    alone = [train_plan(p, data) for p in plans]
    assert [s.plan for s in together] == plans
    steps = {s.steps_run for s in alone}
    assert len(steps) == 2, f"the points should stop at different steps, got {steps}"
    for a, b in zip(alone, together):
        for name in ("init_seeds", "order_seeds", "diverged", "converged", "best_epoch",
                     "best_step", "epochs_run", "steps_run", "grad_steps"):
            assert getattr(a, name) == getattr(b, name), name
        for key, value in a.state.items():
            torch.testing.assert_close(b.state[key], value, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b.grad_multi, a.grad_multi, rtol=1e-4, atol=1e-5,
                                   equal_nan=True)


def test_only_plans_that_differ_in_per_model_options_train_together():
    """Points of one method whose other options differ, or of other methods, are not merged:
    a merged stack would give one of them the other's options."""
    dgl = sweep("dgl", "alpha", [0.5, 4.0])
    window = sweep("ogm_ge", "ends", [1, 5], alpha=0.5)  # 'ends' is not per model
    keys = {_merge_key(p) for p in dgl}
    assert len(keys) == 1 and _merge_key(window[0]) != _merge_key(window[1])
    assert _merge_key(dataclasses.replace(dgl[0], method="joint", options={})) not in keys
    merged = _merged_options(sweep("ogm_ge", "alpha", [0.1, 0.5]))
    assert merged["alpha"] == [0.1] * 4 + [0.5] * 4
    assert isinstance(merged["seed"], int)  # the first point's noise seed
