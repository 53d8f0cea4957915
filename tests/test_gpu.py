"""The CUDA path, run where torch sees a GPU (skipped elsewhere, as in CI): the trainer's step
captured in CUDA graphs trains as the eager step does, on the GPU as on the CPU, and the
benchmark times the captured step."""

import pytest
import torch

from dgl.train import trainer
from dgl.train.methods import make_method
from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.trainer import StackData, TrainConfig, train_stack

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DIMS = (3, 2)
MASKS = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1]], dtype=torch.bool)


def _train(device: str, graph: bool, method: str, cfg: TrainConfig):
    """A 4-model classification stack (mixed subsets; 240 training rows in batches of 64, so
    a short last batch of its own shape) trained on ``device``: its state (on the CPU) and
    result."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 300, sum(DIMS), generator=gen)
    y = (x[..., 0] + 0.5 * x[..., 3] > 0).long() + (x[..., 1] > 0.8).long()
    data = StackData(x.to(device), y.to(device), torch.tensor([0, 1, 0, 1], device=device),
                     torch.arange(240).expand(4, -1).contiguous().to(device),
                     torch.arange(240, 300).expand(4, -1).contiguous().to(device))
    model = StackedLateFusion(ModelConfig(DIMS, 6, "relu", 3), MASKS, [7, 8, 9, 10]).to(device)
    res = train_stack(model, data, cfg, [1, 2, 3, 4], task="classification",
                      method=make_method(method), graph=graph)
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}, res


@pytest.mark.parametrize(("method", "val_every_steps"), [("joint", 1), ("dgl", 1), ("joint", 10)])
def test_captured_step_trains_as_the_eager_step_on_cuda(method, val_every_steps, monkeypatch):
    """Graphs are captured (one per batch shape, again after each shrink, none failing) and
    the captured run ends where the eager run on the same GPU does: the same stopping steps
    and parameters equal to 1e-5, while models leave the stack mid-run (also with validation
    every 10 steps, i.e. after every third 4-step epoch)."""
    captured = []
    original = trainer._GraphStep._capture

    def spy(self, shape, x, y):
        original(self, shape, x, y)
        captured.append((self.models, shape, self.capture))

    monkeypatch.setattr(trainer._GraphStep, "_capture", spy)
    cfg = TrainConfig(lr=0.01, batch_size=64, max_steps=300, patience_steps=40, min_delta=0.01,
                      val_every_steps=val_every_steps)
    eager, r0 = _train("cuda", False, method, cfg)
    graphed, r1 = _train("cuda", True, method, cfg)  # (CPU: models stop at steps 136 to 300)
    assert captured and all(ok for *_, ok in captured)  # no capture fell back to eager
    assert len({shape for models, shape, _ in captured if models == 4}) == 2  # 64 and 48 rows
    assert len({models for models, _, _ in captured}) > 1  # recaptured after a shrink
    assert min(row["models_trained"] for row in r0.history) < 4
    assert r0.best_step.tolist() == r1.best_step.tolist() and r0.steps_run == r1.steps_run
    for name, p in eager.items():
        torch.testing.assert_close(graphed[name], p, rtol=0, atol=1e-5, msg=name)


def test_cuda_training_agrees_with_the_cpu():
    """The captured CUDA run and the CPU run of one stack (no early stop, 100 steps) end
    with parameters equal to 1e-3: the same updates up to float rounding."""
    cfg = TrainConfig(lr=0.01, batch_size=64, max_steps=100, patience_steps=1000)
    cpu, _ = _train("cpu", False, "joint", cfg)
    gpu, _ = _train("cuda", True, "joint", cfg)
    for name, p in cpu.items():
        torch.testing.assert_close(gpu[name], p, rtol=0, atol=1e-3, msg=name)


def test_benchmark_times_the_captured_step():
    from dgl.perf.bench import BenchSize, run_benchmark

    rows, _ = run_benchmark([BenchSize("tiny", 2, 3, 4, 8)], [4], {"tiny": 20}, naive_runs=1,
                            device="cuda", log=lambda *_: None)
    assert [r["engine"] for r in rows] == ["naive loop", "batched", "batched, CUDA graph"]
    assert all(r["model_steps_per_s"] > 0 for r in rows)


def test_shape_limited_rate_bounds_the_captured_engine():
    """On CUDA the shape-limited rate is taken with the products captured too, so it bounds
    the captured engine, whose step runs those products and more (timed eagerly, launches
    set the small size's 'limit' below the engine: 149 against 348 GFLOP/s on an H200)."""
    from dgl.perf.bench import BenchSize, flops_per_model_step, shape_limited_rate, time_batched

    size = BenchSize("small", 2, 64, 64, 128)
    limit, _ = shape_limited_rate(size, 8, "cuda")
    engine = 8 * 200 * flops_per_model_step(size) / time_batched(size, 8, 200, device="cuda",
                                                                  graph=True, repeats=3)
    assert engine < limit


def test_kernel_profile_accounts_for_the_captured_step():
    """The profiled kernels of a step: some launched, their device time a positive part of
    the captured step's wall time, the per-name table summing to the total."""
    from dgl.perf.bench import BenchSize
    from dgl.perf.kernels import step_kernels

    result = step_kernels(BenchSize("small", 2, 64, 64, 128), 8, steps=10)
    assert result.kernels >= 10 and 0 < result.kernel_us < 2 * result.captured_us
    assert abs(sum(us for _, us, _ in result.by_name) - result.kernel_us) < 1e-6 * result.kernel_us


@pytest.mark.parametrize("n_classes", [2, 3])
def test_probes_fitted_on_cuda_agree_with_the_cpu(n_classes):
    """Probes fitted on the GPU (dgl.train.probes.run_on, as evaluation does with
    eval_device: cuda) come back on the CPU and reach the CPU fit's optimum: the same penalties chosen and
    held-out cross-entropies equal to 1e-5 nats (float32 row products summed in another
    order; L-BFGS stops at max |gradient| 5e-5, Newton at its float32 noise floor)."""
    from dgl.train.probes import probe_metrics, run_on, select_probe

    gen = torch.Generator().manual_seed(4)
    z = torch.randn(6, 3000, 8, generator=gen)
    y = ((z[..., 0] + 0.7 * z[..., 1] + 0.5 * torch.randn(6, 3000, generator=gen) > 0).long()
         + (n_classes == 3) * (z[..., 2] > 0.8).long())
    args = (z[:, :2000], y[:, :2000], z[:, 2000:], y[:, 2000:], n_classes, (1e-4, 1e-2))
    cpu, gpu = select_probe(*args), run_on("cuda", select_probe, *args)
    assert all(t.device.type == "cpu" for t in (*gpu[0], gpu[1]))
    assert torch.equal(cpu[1], gpu[1])
    ce_cpu = probe_metrics(z[:, 2000:], y[:, 2000:], cpu[0])[1]
    ce_gpu = probe_metrics(z[:, 2000:], y[:, 2000:], gpu[0])[1]
    torch.testing.assert_close(ce_gpu, ce_cpu, rtol=0, atol=1e-5)
