"""The batched trainer: stacked models equal models trained one at a time; masks isolate
modalities; early stopping keeps the best validation epoch."""

import numpy as np
import pytest
import torch

from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.trainer import StackData, TrainConfig, resolve_device, train_stack


def toy_data(n_sets: int = 2, n: int = 300, dims=(3, 2), seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_sets, n, sum(dims), generator=gen)
    y = (x @ torch.linspace(-1, 1, sum(dims)))[..., None] + 0.3 * torch.randn(n_sets, n, 1, generator=gen)
    return x, y


def make_data(x, y, group, n_fit=200):
    e = len(group)
    return StackData(
        x=x, y=y, group=torch.tensor(group),
        train_idx=torch.arange(n_fit).expand(e, -1).contiguous(),
        val_idx=torch.arange(n_fit, x.shape[1]).expand(e, -1).contiguous(),
    )


@pytest.mark.parametrize("encoder, val_every", [("linear", 1), ("relu", 1), ("relu", 10)])
def test_stack_equals_one_model_at_a_time(encoder, val_every):
    dims = (3, 2)
    x, y = toy_data(dims=dims)
    masks = torch.tensor([[1, 1], [1, 0], [0, 1]], dtype=torch.bool)
    group, init, order = [0, 1, 0], [11, 12, 13], [21, 22, 23]
    cfg = TrainConfig(lr=0.01, batch_size=32, max_steps=280, patience_steps=14 * val_every,
                      val_every_steps=val_every)
    stacked = StackedLateFusion(ModelConfig(dims, 6, encoder, 1), masks, init)
    res = train_stack(stacked, make_data(x, y, group), cfg, order)
    trained = [row["models_trained"] for row in res.history]
    assert trained[0] == 3 and min(trained) < 3  # stopped models left the stack mid-run
    for e in range(3):
        single = StackedLateFusion(ModelConfig(dims, 6, encoder, 1), masks[e : e + 1],
                                   init[e : e + 1])
        res1 = train_stack(single, make_data(x, y, group[e : e + 1]), cfg, order[e : e + 1])
        assert int(res1.best_epoch[0]) == int(res.best_epoch[e])
        for name, p in single.state_dict().items():
            torch.testing.assert_close(p[0], stacked.state_dict()[name][e], rtol=1e-4, atol=1e-5)


def test_masked_modality_has_no_effect_and_no_gradient():
    dims = (3, 2)
    masks = torch.tensor([[1, 0]], dtype=torch.bool)
    model = StackedLateFusion(ModelConfig(dims, 4, "relu", 1), masks, [0])
    x = torch.randn(1, 10, 5)
    x2 = x.clone()
    x2[..., 3:] = torch.randn(1, 10, 2)
    assert torch.equal(model(x), model(x2))
    model(x).sum().backward()
    unused = model.enc_weight[1].grad  # not in the graph at all, or zeros
    assert unused is None or torch.count_nonzero(unused) == 0
    assert torch.count_nonzero(model.enc_weight[0].grad) > 0


def test_early_stopping_returns_best_validation_epoch_in_target_units():
    x, y = toy_data(n_sets=1, n=400)
    data = make_data(x, y, [0], n_fit=300)
    model = StackedLateFusion(ModelConfig((3, 2), 16, "relu", 1),
                              torch.ones(1, 2, dtype=torch.bool), [5])
    cfg = TrainConfig(lr=0.01, batch_size=16, max_steps=1140, patience_steps=76)
    res = train_stack(model, data, cfg, [7])
    assert 1 <= int(res.best_epoch[0]) <= res.epochs_run
    # stopped by patience unless still improving at the cap
    assert res.steps_run < 1140 or int(res.best_step[0]) > 1140 - 76
    with torch.no_grad():
        pred = model(x[:, 300:])
    val_mse_units = float(((pred - y[:, 300:]) ** 2).mean())
    var_y = float(y[0, :300].var())
    # best_val_mse is on the standardised target; the returned model predicts in y's units
    assert val_mse_units == pytest.approx(float(res.best_val_mse[0]) * var_y, rel=1e-3)
    # noise variance 0.09: a trained model is far better than predicting the mean
    assert val_mse_units < 0.2 < var_y


def test_linear_stack_reaches_least_squares():
    x, y = toy_data(n_sets=1, n=2000)
    data = make_data(x, y, [0], n_fit=1500)
    model = StackedLateFusion(ModelConfig((3, 2), 8, "linear", 1),
                              torch.ones(1, 2, dtype=torch.bool), [1])
    train_stack(model, data, TrainConfig(lr=0.01, batch_size=64, max_steps=4800,
                                         patience_steps=240), [2])
    xs, ys = x[0, :1500].numpy(), y[0, :1500, 0].numpy()
    design = np.hstack([xs, np.ones((1500, 1))])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    xt = np.hstack([x[0, 1500:].numpy(), np.ones((500, 1))])
    ols = np.mean((xt @ coef - y[0, 1500:, 0].numpy()) ** 2)
    with torch.no_grad():
        sgd = float(((model(x[:, 1500:]) - y[:, 1500:]) ** 2).mean())
    assert sgd == pytest.approx(ols, rel=0.05)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="known devices"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no GPU"):
            resolve_device("cuda")


def test_model_rejects_bad_arguments():
    with pytest.raises(KeyError, match="known encoders"):
        ModelConfig((2,), 3, "tanh", 1)
    with pytest.raises(KeyError, match="known fusions"):
        ModelConfig((2,), 3, "relu", 1, "product")
    with pytest.raises(ValueError, match="at least one modality"):
        StackedLateFusion(ModelConfig((2, 2), 3, "relu", 1),
                          torch.tensor([[0, 0]], dtype=torch.bool), [0])


@pytest.mark.parametrize("graph", [False, True])
def test_divergence_stops_only_that_model_and_is_recorded(graph):
    """Dataset 1 carries inputs near float32's limit: its model's loss overflows to inf/NaN at
    the first step. It must be stopped and flagged; the other model trains exactly as alone.
    The CUDA-graph step (run here without capture) keeps the loss on the device and finds
    the overflow at the end of the epoch instead of at its step: the same outcome."""
    dims = (3, 2)
    x, y = toy_data(dims=dims)
    x[1] *= 1e30
    masks = torch.ones(2, 2, dtype=torch.bool)
    cfg = TrainConfig(lr=0.01, batch_size=32, max_steps=42, patience_steps=42)
    stacked = StackedLateFusion(ModelConfig(dims, 6, "relu", 1), masks, [1, 2])
    res = train_stack(stacked, make_data(x, y, [0, 1]), cfg, [3, 4], graph=graph)
    assert res.diverged.tolist() == [False, True]
    assert res.epochs_run == 6 and res.history[-1]["models_trained"] == 1
    single = StackedLateFusion(ModelConfig(dims, 6, "relu", 1), masks[:1], [1])
    alone = train_stack(single, make_data(x, y, [0]), cfg, [3])
    assert not bool(alone.diverged[0])
    for name, p in single.state_dict().items():
        torch.testing.assert_close(p[0], stacked.state_dict()[name][0], rtol=1e-4, atol=1e-5)


def test_the_budget_is_in_steps_whatever_the_sample_size():
    """10 training rows get as many optimiser steps as 200 (the budget ends mid-epoch when it
    must)."""
    x, y = toy_data(n_sets=1, n=300)
    cfg = TrainConfig(lr=0.01, batch_size=32, max_steps=50, patience_steps=50)
    for n_fit in (10, 200):
        data = StackData(x=x, y=y, group=torch.tensor([0]),
                         train_idx=torch.arange(n_fit)[None], val_idx=torch.arange(250, 300)[None])
        model = StackedLateFusion(ModelConfig((3, 2), 4, "relu", 1),
                                  torch.ones(1, 2, dtype=torch.bool), [0])
        res = train_stack(model, data, cfg, [1])
        assert res.steps_run == 50
        assert res.history[-1]["step"] == 50


def test_validation_every_so_many_steps_at_epoch_ends():
    """val_every_steps: validation after the first epoch that ends that many steps after the
    last one, and when the budget ends. 10 rows at batch 32 (an epoch is one step) validate
    at steps 7, 14, ..., 49 and 50; 200 rows (7 steps an epoch) at 14, 28, 42 and 50, every
    other epoch; the default (1) after every epoch. The best step is always a validated one."""
    x, y = toy_data(n_sets=1, n=300)
    expected = {(10, 7): [7, 14, 21, 28, 35, 42, 49, 50], (200, 10): [14, 28, 42, 50],
                (10, 1): list(range(1, 51)), (200, 1): [7, 14, 21, 28, 35, 42, 49, 50]}
    for (n_fit, every), steps in expected.items():
        data = StackData(x=x, y=y, group=torch.tensor([0]),
                         train_idx=torch.arange(n_fit)[None], val_idx=torch.arange(250, 300)[None])
        model = StackedLateFusion(ModelConfig((3, 2), 4, "relu", 1),
                                  torch.ones(1, 2, dtype=torch.bool), [0])
        cfg = TrainConfig(lr=0.01, batch_size=32, max_steps=50, patience_steps=50,
                          val_every_steps=every)
        res = train_stack(model, data, cfg, [1])
        assert [row["step"] for row in res.history] == steps, (n_fit, every)
        assert int(res.best_step[0]) in [0] + steps
    with pytest.raises(ValueError, match="val_every_steps"):
        TrainConfig(val_every_steps=0)


def test_converged_flag_and_relative_min_delta():
    """A model that hits the step cap before its patience runs out is not converged; one
    stopped by patience is. The improvement threshold is relative: with min_delta 1 nothing counts as one."""
    x, y = toy_data(n_sets=1, n=300)
    data = make_data(x, y, [0])
    model_cfg = ModelConfig((3, 2), 4, "linear", 1)
    masks = torch.ones(1, 2, dtype=torch.bool)
    short = train_stack(StackedLateFusion(model_cfg, masks, [0]), data,
                        TrainConfig(lr=1e-3, batch_size=32, max_steps=14, patience_steps=100),
                        [1])
    assert int(short.best_epoch[0]) == short.epochs_run and not bool(short.converged[0])
    long = train_stack(StackedLateFusion(model_cfg, masks, [0]), data,
                       TrainConfig(lr=0.05, batch_size=32, max_steps=5000, patience_steps=35),
                       [1])
    assert long.steps_run < 5000 and bool(long.converged[0])
    none = train_stack(StackedLateFusion(model_cfg, masks, [0]), data,
                       TrainConfig(lr=0.05, batch_size=32, max_steps=500, patience_steps=21,
                                   min_delta=1.0), [1])
    assert int(none.best_epoch[0]) == 0 and none.steps_run == 21
    assert not bool(none.converged[0])  # never improved on its initialisation: flagged
    # best validation long before the last check, but the cap comes before the patience runs
    # out: it hit the cap, so it is not converged (the flag does not need the best to be last)
    capped = train_stack(StackedLateFusion(model_cfg, masks, [0]), data,
                         TrainConfig(lr=0.05, batch_size=32, max_steps=40, patience_steps=100,
                                     min_delta=1.0), [1])
    assert int(capped.best_step[0]) == 0 and capped.steps_run == 40
    assert not bool(capped.converged[0])


def test_tables_recompute_the_trainers_convergence_flag():
    """with_cap_flag reads best_step and steps_run with the trainer's own rule: the same flags
    as training gave, for a model stopped by patience and for models that hit the cap."""
    import polars as pl

    from dgl.studies.common import with_cap_flag

    x, y = toy_data(n_sets=1, n=300)
    data = make_data(x, y, [0])
    model_cfg = ModelConfig((3, 2), 4, "linear", 1)
    masks = torch.ones(1, 2, dtype=torch.bool)
    for cfg in (TrainConfig(lr=0.05, batch_size=32, max_steps=5000, patience_steps=35),
                TrainConfig(lr=1e-3, batch_size=32, max_steps=14, patience_steps=100),
                TrainConfig(lr=0.05, batch_size=32, max_steps=40, patience_steps=100,
                            min_delta=1.0)):
        out = train_stack(StackedLateFusion(model_cfg, masks, [0]), data, cfg, [1])
        frame = pl.DataFrame({"status": ["ok"], "converged": [None],
                              "best_step": [int(out.best_step[0])], "steps_run": [out.steps_run]})
        assert with_cap_flag(frame, cfg)["converged"].to_list() == [bool(out.converged[0])]


def test_a_finite_blow_up_is_diverged():
    """Adam at lr 1e6 keeps every loss finite but astronomically above its start: the model is
    stopped and reported diverged (it would otherwise fall back to its initialisation and
    look 'ok'). At a sane learning rate the same model is not."""
    x, y = toy_data(n_sets=1, n=300)
    data = make_data(x, y, [0])
    model_cfg = ModelConfig((3, 2), 8, "relu", 1)
    masks = torch.ones(1, 2, dtype=torch.bool)
    cfg = TrainConfig(lr=1e6, batch_size=32, max_steps=200, patience_steps=200)
    blown = train_stack(StackedLateFusion(model_cfg, masks, [0]), data, cfg, [1])
    assert bool(blown.diverged[0]) and not bool(blown.converged[0])
    assert blown.steps_run < 200
    sane = train_stack(StackedLateFusion(model_cfg, masks, [0]), data,
                       TrainConfig(lr=0.01, batch_size=32, max_steps=200, patience_steps=200), [1])
    assert not bool(sane.diverged[0])


def test_a_finished_run_frees_its_graph_step_without_garbage_collection(monkeypatch):
    """The graph step (on CUDA: its captured graphs) dies when train_stack returns, by
    reference counting alone: no reference cycle leaves it to a later garbage collection,
    which could fall inside another stack's capture."""
    import gc
    import weakref

    from dgl.train import trainer

    made = []
    init = trainer._GraphStep.__init__

    def spy(self, run, *args, **kwargs):
        init(self, run, *args, **kwargs)
        made.append((weakref.ref(self), weakref.ref(run)))

    monkeypatch.setattr(trainer._GraphStep, "__init__", spy)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 100, 5, generator=gen)
    y = (x[..., 0] > 0).long()
    masks = torch.ones(2, 2, dtype=torch.bool)
    gc.disable()
    try:
        train_stack(StackedLateFusion(ModelConfig((3, 2), 6, "relu", 2), masks, [1, 2]),
                    make_data(x, y, [0, 0], n_fit=80),
                    TrainConfig(lr=0.01, batch_size=32, max_steps=20),
                    [1, 2], task="classification", graph=True)
        assert made and all(step() is None and run() is None for step, run in made)
    finally:
        gc.enable()


@pytest.mark.parametrize("method", ["joint", "dgl", "dgl_pid", "ume"])
def test_the_buffered_graph_step_trains_exactly_as_the_eager_step(method):
    """The CUDA-graph path of the trainer (static input buffers, the loss kept on the device,
    finiteness read once an epoch, a new buffer shape after every shrink) run on the CPU with
    capture off: bit-for-bit the parameters and records of the eager step, while models
    leave the stack mid-run. ogm_ge (host-side window and noise) is refused."""
    from dgl.train.methods import make_method

    dims = (3, 2)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 300, sum(dims), generator=gen)
    y = (x[..., 0] + 0.5 * x[..., 3] > 0).long() + (x[..., 1] > 0.8).long()
    masks = torch.tensor([[1, 1], [1, 1], [1, 1]], dtype=torch.bool)
    cfg = TrainConfig(lr=0.01, batch_size=64, max_steps=200, patience_steps=8, min_delta=0.01)
    runs = []
    for graph in (False, True):
        model = StackedLateFusion(ModelConfig(dims, 6, "relu", 3), masks, [7, 8, 9])
        res = train_stack(model, make_data(x, y, [0, 1, 0]), cfg, [1, 2, 3],
                          task="classification", method=make_method(method), graph=graph)
        runs.append((model.state_dict(), res))
    (eager, r0), (buffered, r1) = runs
    assert min(row["models_trained"] for row in r0.history) < 3  # the stack shrank
    for name, p in eager.items():
        assert torch.equal(p, buffered[name]), name
    assert r0.best_step.tolist() == r1.best_step.tolist() and r0.steps_run == r1.steps_run
    assert r0.history == [{**row} for row in r1.history]
    with pytest.raises(ValueError, match="captured step"):
        train_stack(StackedLateFusion(ModelConfig(dims, 6, "relu", 3), masks, [7, 8, 9]),
                    make_data(x, y, [0, 1, 0]), cfg, [1, 2, 3], task="classification",
                    method=make_method("ogm_ge"), graph=True)

