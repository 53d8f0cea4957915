"""Linear probes: the best linear head on frozen features, fitted to convergence.

For features z [E, n, h] (one frozen encoder per model) and labels y, the probe of model e is
the multinomial logistic regression

    (V_e, c_e) = argmin_{V, c} 1/n sum_i CE(z_{e,i} V + c, y_i) + lambda/2 ||V||^2,

a convex problem; the E problems are independent and are solved at once, each by its own
L-BFGS (its own curvature pairs, step and stop), the rows' products batched over the models.
``lambda`` (default 1e-4) only makes the optimum unique when classes are separable. Its test
cross-entropy minus the exact Bayes cross-entropy of the modality is the per-modality latent
quality eta (Huang et al. 2021); likewise for accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from dgl.train.losses import accuracy_per_model, ce_per_model


def run_on(device: torch.device | str | None, fit: Callable[..., Any], *args: Any,
           **kwargs: Any) -> Any:
    """``fit(*args, **kwargs)`` (a probe fit: :func:`fit_probe`, :func:`select_probe`) computed
    on ``device``: its tensor arguments (also inside tuples) moved there, its tensor results
    (also inside tuples) brought back to the CPU, where evaluation reads them; ``None``: on
    the arguments' own device. Every tensor the fits create follows their inputs' device."""
    if device is None:
        return fit(*args, **kwargs)
    out = fit(*_moved(args, device), **{k: _moved(v, device) for k, v in kwargs.items()})
    return _moved(out, "cpu")


def _moved(obj: Any, device: torch.device | str) -> Any:
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple):
        return tuple(_moved(o, device) for o in obj)
    return obj


def _standardise(z: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation (n - 1) of every feature over the rows of z [E, n, h],
    by two passes (torch's std over the middle dimension took twice as long)."""
    mu = z.mean(dim=1, keepdim=True)
    var = (z - mu).square_().sum(dim=1, keepdim=True) / max(z.shape[1] - 1, 1)
    return mu, var.sqrt_().clamp_min(1e-6)


@torch.no_grad()
def fit_probe(z: Tensor, y: Tensor, n_classes: int, l2: float = 1e-4, max_iter: int = 300,
              tol: float = 5e-5, start: tuple[Tensor, Tensor] | None = None
              ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fit probes on features ``z [E, n, h]`` and labels ``y [E, n]``, from zero or, with two
    classes, from ``start`` (a head (V [E, h, 2], c [E, 1, 2]) on the raw features, e.g. the
    model's own) where its objective is lower. (L-BFGS gained nothing from such a start: the
    main study's control f = 0.001 probes took 29.5 s from the models' own heads, 26.8 s
    from zero.)
    Returns (V [E, h, C], c [E, 1, C], mu, sd) (float64), the features being standardised by
    (mu, sd) of the training rows first (this does not change the optimum of an unregularised
    probe). Each model's problem is solved by its own L-BFGS (:func:`batched_lbfgs`: every
    model's direction, step and stop are its own, all models computed at once), until every
    coordinate of its gradient is below ``tol``: the objective is then within about
    tol^2 / lambda_min of its minimum. Measured on the main study's lazy f = 1 cell (96
    probes): objective within 1.3e-4 nats of a fit to 1e-7 (3.9e-5 on average), as close as
    the L-BFGS over the stacked parameters it replaced at tol 1e-4, with 1.7x less time (that
    one shares its line search and curvature pairs between the models, and needs more
    iterations the more models it holds). Its 40 curvature pairs took 28 to 31 % less time
    than 20 (lazy f = 1: 3.95 -> 2.86 s; control f = 0.001: 30.4 -> 21.0 s), as close to the
    minimum (20 pairs: 1.2e-4 nats at most, 3.9e-5 on average); 60 and 100 were no faster.
    The row products run in float32 (memory-bound:
    twice as fast as float64) and are summed in float64; the parameters and the optimiser's
    state are float64.
    Two classes: the same optimum by Newton's method (:func:`fit_binary_probe`; the symmetric
    optimum V = (-w/2, w/2) makes lambda/2 ||V||^2 = (lambda/2)/2 ||w||^2), returned with
    V = (0, w), which gives the same logit differences, so the same probabilities."""
    if n_classes == 2:
        design, first = _binary_setup(z, start)
        return fit_binary_probe(z, y, l2 / 2, first, design=design)[0]
    if start is not None:
        raise ValueError(f"a start is for two classes only, got {n_classes} classes")
    z = z.double()
    mu, sd = _standardise(z)
    e, _, h = z.shape
    objective = _Multinomial(((z - mu) / sd).float(), y, n_classes, l2)
    theta = batched_lbfgs(objective, z.new_zeros(e, (h + 1) * n_classes), tol, max_iter)
    v = theta[:, : h * n_classes].reshape(e, h, n_classes)
    c = theta[:, h * n_classes :].reshape(e, 1, n_classes)
    return v, c, mu, sd


def binary_start(head: tuple[Tensor, Tensor], mu: Tensor, sd: Tensor) -> Tensor:
    """A two-class head (V [E, h, 2], c [E, 1, 2]) on raw features z as
    :func:`fit_binary_probe`'s w [E, h + 1] on the standardised design [(z - mu) / sd, 1]:
    the logit difference z dv + dc = ((z - mu) / sd)(sd dv) + (dc + mu dv)."""
    v, c = (t.double() for t in head)
    dv, dc = v[:, :, 1] - v[:, :, 0], c[:, 0, 1] - c[:, 0, 0]
    mu, sd = mu.double()[:, 0], sd.double()[:, 0]
    return torch.cat([dv * sd, (dc + (mu * dv).sum(dim=1))[:, None]], dim=1)


def _binary_setup(z: Tensor, start: tuple[Tensor, Tensor] | None
                  ) -> tuple[tuple[Tensor, Tensor, Tensor], Tensor | None]:
    """:func:`binary_design` of ``z`` and the head ``start`` (on the raw features, or None)
    as Newton's w on it (:func:`binary_start`)."""
    design = binary_design(z)
    return design, None if start is None else binary_start(start, design[0], design[1])


class _Multinomial:
    """The probe objective of every model and its gradient in closed form (no autograd):
    f_e(theta_e) = 1/n sum_i CE(z_{e,i} V_e + c_e, y_i) + lambda/2 ||V_e||^2 with
    theta_e = (V_e, c_e) flattened; d/dV = z^T (softmax(zV + c) - onehot(y)) / n + lambda V,
    d/dc = column sums / n. The logits are laid out [E, C, n] (rows contiguous: 1.6x faster
    than [E, n, C]) and turned into the residuals in place (no temporary of their size).
    :meth:`select` restricts the rows held to some models (those still iterating), so
    finished models cost nothing."""

    def __init__(self, zs: Tensor, y: Tensor, n_classes: int, l2: float) -> None:
        self.full = (zs, zs.transpose(1, 2).contiguous(), y[:, None, :])
        self.models = torch.arange(zs.shape[0], device=zs.device)
        self.rows, self.classes, self.l2 = self.full, n_classes, l2

    def select(self, models: Tensor) -> None:
        if not torch.equal(models, self.models):
            self.models = models
            self.rows = tuple(t.index_select(0, models) for t in self.full)

    def __call__(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        zs, zs_t, label = self.rows
        e, n, h = zs.shape
        v = theta[:, : h * self.classes].view(e, h, self.classes)
        c = theta[:, h * self.classes :].view(e, 1, self.classes)
        logits = torch.baddbmm(c.transpose(1, 2).float(), v.transpose(1, 2).float(), zs_t)
        picked = logits.gather(1, label)
        top = logits.amax(dim=1, keepdim=True)
        expo = logits.sub_(top).exp_()  # in place: no temporaries of the logits' size
        total = expo.sum(dim=1, keepdim=True)
        ce = torch.log(total).add_(top).sub_(picked).sum(dim=(1, 2), dtype=torch.float64) / n
        resid = expo.div_(total).scatter_add_(1, label, zs.new_full((e, 1, n), -1.0))
        grad_v = torch.bmm(resid, zs).transpose(1, 2).double() / n + self.l2 * v
        grad_c = resid.sum(dim=2, dtype=torch.float64) / n
        value = ce + 0.5 * self.l2 * (v**2).sum(dim=(1, 2))
        return value, torch.cat([grad_v.reshape(e, -1), grad_c], dim=1)


def batched_lbfgs(objective, theta: Tensor, tol: float, max_iter: int, history: int = 40,
                  c1: float = 1e-4) -> Tensor:
    """Minimise E independent smooth convex objectives at once: ``objective(theta [a, P])``
    returns the values [a] and gradients [a, P] of the models ``objective.select(models)``
    named. Per model e: the L-BFGS direction d_e = -H_e g_e from its own last ``history``
    pairs (s, y) (:func:`_lbfgs_direction`), the step t_e the first of 1, 1/2, 1/4, ... with
    f_e(theta_e + t d_e) <= f_e + c1 t g_e.d_e (Armijo), and it stops once
    max |g_e| <= tol (or when no step of 30 halvings decreases it). Returns theta [E, P].
    The pairs are kept stacked, [E, m, P] oldest first (a model that has stopped keeps
    zero pairs, which it never reads again)."""
    value, grad = objective(theta)
    e, size = theta.shape
    s_hist = theta.new_zeros(e, 0, size)
    y_hist = theta.new_zeros(e, 0, size)
    stuck = torch.zeros(e, dtype=torch.bool, device=theta.device)
    for _ in range(max_iter):
        active = ((grad.abs().amax(dim=1) > tol) & ~stuck).nonzero().squeeze(1)
        if not len(active):
            break
        objective.select(active)
        direction = _lbfgs_direction(grad[active], s_hist[active], y_hist[active])
        new = _armijo_step(objective, theta[active], value[active], grad[active], direction, c1)
        s, y = torch.zeros_like(theta), torch.zeros_like(theta)
        s[active], y[active] = new[0] - theta[active], new[2] - grad[active]
        stuck[active] = (s[active] == 0).all(dim=1)
        kept = slice(max(0, s_hist.shape[1] - history + 1), None)  # the newest history - 1
        s_hist = torch.cat([s_hist[:, kept], s[:, None]], dim=1)
        y_hist = torch.cat([y_hist[:, kept], y[:, None]], dim=1)
        theta[active], value[active], grad[active] = new
    return theta


def _lbfgs_direction(grad: Tensor, s_hist: Tensor, y_hist: Tensor) -> Tensor:
    """-H g ([a, P]) for the L-BFGS matrix H of each row's pairs (s_i, y_i) (``s_hist``,
    ``y_hist`` [a, m, P], oldest first), with H_0 = gamma I, gamma = s.y / y.y of the newest
    pair, or min(1, 1 / |g|_1) before any (as torch's L-BFGS scales its first step).

    In the compact form of Byrd, Nocedal and Schnabel (1994, Thm 2.2): with S, Y the pairs
    as rows, R = triu(S Y^T) and D = diag(S Y^T),
    H g = gamma g + S^T p - gamma Y^T r, r = R^-1 S g, p = R^-T ((D + gamma Y Y^T) r - gamma Y g):
    a handful of batched products and two triangular solves, where the two-loop recursion
    (:func:`_two_loop`, the same H) takes four small operations per pair. A row with a pair
    of curvature s.y <= 1e-12 (R singular) goes through the two-loop recursion, which skips
    that pair."""
    if s_hist.shape[1] == 0:
        return _two_loop(grad, [])  # the first step: -min(1, 1 / |g|_1) g
    sy = torch.bmm(s_hist, y_hist.transpose(1, 2))  # [a, m, m]
    curv = sy.diagonal(dim1=1, dim2=2)  # [a, m]: s_i.y_i
    usable = (curv > 1e-12).all(dim=1)
    out = torch.empty_like(grad)
    if not bool(usable.all()):
        rows = (~usable).nonzero().squeeze(1)
        rho = torch.where(curv[rows] > 1e-12, 1 / curv[rows].clamp_min(1e-300), 0.0)
        out[rows] = _two_loop(grad[rows], [(s_hist[rows, i], y_hist[rows, i], rho[:, i])
                                           for i in range(s_hist.shape[1])])
    rows = usable.nonzero().squeeze(1)
    s, y, g = s_hist[rows], y_hist[rows], grad[rows]
    yy = torch.bmm(y, y.transpose(1, 2))
    diag = curv[rows]
    gamma = (diag[:, -1] / yy[:, -1, -1].clamp_min(1e-300))[:, None, None]
    upper = sy[rows].triu()
    r = torch.linalg.solve_triangular(upper, torch.bmm(s, g[:, :, None]), upper=True)
    rhs = diag[:, :, None] * r + gamma * torch.bmm(yy, r) - gamma * torch.bmm(y, g[:, :, None])
    p = torch.linalg.solve_triangular(upper.transpose(1, 2), rhs, upper=False)
    hg = gamma[:, :, 0] * g + torch.bmm(s.transpose(1, 2), p)[:, :, 0] \
        - gamma[:, :, 0] * torch.bmm(y.transpose(1, 2), r)[:, :, 0]
    out[rows] = -hg
    return out


def _two_loop(grad: Tensor, pairs: list[tuple[Tensor, Tensor, Tensor]]) -> Tensor:
    """-H g by the two-loop recursion, row by row ([a, P]), on the pairs (s, y, 1 / s.y)
    (oldest first; a pair with 1 / s.y = 0 is skipped); H_0 = (s.y / y.y) I of the newest
    pair, or min(1, 1 / |g|_1) I before any (as torch's L-BFGS scales its first step)."""
    q, alphas = grad.clone(), []
    for s, y, rho in reversed(pairs):
        alpha = rho * (s * q).sum(dim=1)
        q -= alpha[:, None] * y
        alphas.append(alpha)
    first = (1 / grad.abs().sum(dim=1).clamp_min(1e-12)).clamp_max(1.0)
    if pairs:
        s, y, rho = pairs[-1]
        scale = torch.where(rho > 0, (s * y).sum(dim=1) / (y * y).sum(dim=1).clamp_min(1e-300),
                            first)
    else:
        scale = first
    r = q * scale[:, None]
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        r += s * (alpha - rho * (y * r).sum(dim=1))[:, None]
    return -r


def _armijo_step(objective, theta: Tensor, value: Tensor, grad: Tensor, direction: Tensor,
                 c1: float, halvings: int = 30) -> tuple[Tensor, Tensor, Tensor]:
    """Each model's first step t in 1, 1/2, ... satisfying Armijo's condition: the new
    (theta, value, grad) [a, ...]; a model without one keeps its point."""
    slope = (grad * direction).sum(dim=1)
    step = torch.ones_like(value)
    new = [theta.clone(), value.clone(), grad.clone()]
    pending = torch.ones_like(value, dtype=torch.bool)
    for _ in range(halvings):
        trial = theta + step[:, None] * direction
        trial_value, trial_grad = objective(trial)
        ok = pending & (trial_value <= value + c1 * step * slope)
        new[0][ok], new[1][ok], new[2][ok] = trial[ok], trial_value[ok], trial_grad[ok]
        pending &= ~ok
        if not bool(pending.any()):
            break
        step = torch.where(pending, step / 2, step)
    return new[0], new[1], new[2]


@torch.no_grad()
def binary_design(z: Tensor, exact_below: int = 4096) -> tuple[Tensor, Tensor, Tensor]:
    """The standardised design of :func:`fit_binary_probe`: (mu, sd) of the features
    ``z [E, n, h]`` and x = [(z - mu) / sd, 1] [E, n, h + 1], built once for every penalty of
    a grid. float32, or float64 below ``exact_below`` rows: there the products are cheap, and
    float32's noise floor left a nearly separable problem (the theory study's 8-row refits)
    undetermined along its weakly curved directions (the decrement stalled near 1e-11, and
    two starts gave test cross-entropies 6e-3 nats apart)."""
    e, n, h = z.shape
    z_d = z.to(torch.float64 if n < exact_below else torch.float32)
    mu, sd = _standardise(z_d)
    x = z_d.new_empty(e, n, h + 1)  # filled in place: no temporary of the rows' size
    x[:, :, :h] = z_d
    x[:, :, :h].sub_(mu).div_(sd)
    x[:, :, h] = 1.0
    return mu, sd, x


@torch.no_grad()
def fit_binary_probe(z: Tensor, y: Tensor, l2: float = 1e-4, start: Tensor | None = None,
                     max_iter: int = 30, tol: float = 1e-12,
                     design: tuple[Tensor, Tensor, Tensor] | None = None
                     ) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], Tensor]:
    """Two-class probes by Newton's method on the standardised features: the logistic
    regression w = argmin 1/n sum_i CE(sigmoid([z_i, 1] w), y_i) + lambda/2 ||beta||^2
    (beta: w without the intercept), returned in :func:`fit_probe`'s form (logits
    (0, [z, 1] w)) with w itself [E, h + 1] (to warm-start the next penalty). ``start``: a
    w to start from, for each model where its objective is below that of zero.

    Each step solves H d = g, g the gradient and H = X^T diag(p (1 - p)) X / n + lambda
    (on beta). The products over the rows run in the design's precision (float32 from
    4 096 rows: they are memory-bound; H only sets the step, g is accumulated over rows and
    the solve is in float64); it stops when every model's Newton decrement g^T H^-1 g
    (twice the objective decrease the step predicts) is below ``tol``: at float32's noise
    floor the objective is at its minimum to about 1e-12 nats. ``design``:
    :func:`binary_design` of ``z``, when the caller already has it."""
    e, _, h = z.shape
    mu, sd, x = design if design is not None else binary_design(z)
    t = y.to(x.dtype)
    reg = torch.full((h + 1,), float(l2), dtype=torch.float64, device=x.device)
    reg[-1] = 0.0
    w = reg.new_zeros(e, h + 1)
    if start is not None:  # per model, the start where its objective is below zero's
        lower = _binary_objective(x, t, reg, start) < _binary_objective(x, t, reg, w)
        w = torch.where(lower[:, None], start, w)
    w = _newton(x, t, reg, w, max_iter, tol)
    v, c = reg.new_zeros(e, h, 2), reg.new_zeros(e, 1, 2)
    v[:, :, 1], c[:, 0, 1] = w[:, :h], w[:, h]
    return (v, c, mu.double(), sd.double()), w


def _newton(x: Tensor, t: Tensor, reg: Tensor, w: Tensor, max_iter: int, tol: float,
            damped_above: float = 1e-4) -> Tensor:
    """Newton steps of :func:`fit_binary_probe` from ``w`` on the design ``x`` [E, n, h + 1]
    and targets ``t`` [E, n] in {0, 1}. A model whose decrement g^T H^-1 g exceeds
    ``damped_above`` (far from its minimum, e.g. from a warm start) takes the longest step
    t in 1, 1/2, 1/4, ... with f(w - t d) <= f(w) - t g^T d / 4 (Armijo), so Newton's
    method converges from any start; nearer, it takes full steps (where the float32 objective
    could not resolve the decrease)."""
    n = x.shape[1]
    for _ in range(max_iter):
        grad_sum, gram, loss = _newton_terms(x, t, w)
        value = loss / n + 0.5 * (reg * w * w).sum(dim=1)
        grad = grad_sum.double() / n + reg * w
        step = torch.linalg.solve(gram.double() / n + torch.diag(reg + 1e-10), grad)
        decrement = (grad * step).sum(dim=1)
        size = torch.ones_like(decrement)
        far = decrement > damped_above
        for _ in range(30 if bool(far.any()) else 0):
            trial = _binary_objective(x, t, reg, w - size[:, None] * step)
            short = far & (trial > value - size * decrement / 4)
            if not bool(short.any()):
                break
            size = torch.where(short, size / 2, size)
        w = w - size[:, None] * step
        if float(decrement.max()) < tol:
            break
    return w


def _binary_objective(x: Tensor, t: Tensor, reg: Tensor, w: Tensor) -> Tensor:
    """f(w) = 1/n sum_i CE(sigmoid(x_i w), t_i) + 1/2 sum_j reg_j w_j^2 of every model [E]
    (float64; the row products in the design's precision)."""
    logit = torch.bmm(w.to(x.dtype)[:, None, :], x.transpose(1, 2))[:, 0]  # [E, n]
    loss = _row_losses(logit, t).sum(dim=1, dtype=torch.float64)
    return loss / x.shape[1] + 0.5 * (reg * w * w).sum(dim=1)


def _row_losses(logit: Tensor, t: Tensor) -> Tensor:
    """CE(sigmoid(logit), t) = softplus(logit) - t logit, row by row."""
    return torch.nn.functional.softplus(logit) - t * logit


def _newton_terms(x: Tensor, t: Tensor, w: Tensor, rows: int = 1024
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """sum_i (p_i - t_i) x_i [E, h] and X^T diag(p (1 - p)) X [E, h, h] (the design's
    precision), and the summed cross-entropy sum_i CE(p_i, t_i) [E] (float64),
    p = sigmoid(X w), in one pass over blocks of ``rows`` rows: each block is read once and
    its products stay in cache, and the row products take row vectors from the left (w^T X^T,
    (p - t)^T X), the fast layout; X^T is a transposed view (a contiguous copy of it was
    slower, and held a second design). 8 x 20 000 x 65: 27 ms a step, against 72 ms when
    every row was weighted first and then multiplied in one product."""
    e, _, h = x.shape
    x_t = x.transpose(1, 2)
    w_row = w.to(x.dtype)[:, None, :]
    grad, gram = x.new_zeros(e, 1, h), x.new_zeros(e, h, h)
    loss = torch.zeros(e, dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[1], rows):
        block = slice(start, start + rows)
        logit = torch.bmm(w_row, x_t[:, :, block])  # [E, 1, rows]
        prob = torch.sigmoid(logit)
        loss += _row_losses(logit, t[:, None, block]).sum(dim=(1, 2), dtype=torch.float64)
        grad.baddbmm_(prob - t[:, None, block], x[:, block])
        gram.baddbmm_(x_t[:, :, block] * (prob * (1 - prob)), x[:, block])
    return grad[:, 0], gram, loss


@torch.no_grad()
def probe_logits(z: Tensor, probe: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
    """Logits [E, n, C] (float64) of fitted probes on features ``z [E, n, h]``: the
    standardisation folded into the head, ((z - mu) / sd) V + c = z (V / sd^T) + (c - (mu / sd) V),
    so the rows are read once (no standardised copy of them)."""
    v, c, mu, sd = probe
    v_raw = v / sd.transpose(1, 2)
    return torch.baddbmm(c - torch.bmm(mu, v_raw), z.double(), v_raw)


@torch.no_grad()
def probe_metrics(z: Tensor, y: Tensor, probe: tuple[Tensor, Tensor, Tensor, Tensor]
                  ) -> tuple[Tensor, Tensor]:
    """Accuracy and mean cross-entropy (nats) of fitted probes on ``z [E, n, h]``: two [E]."""
    logits = probe_logits(z, probe)
    return accuracy_per_model(logits, y), ce_per_model(logits, y)


def select_probe(z_fit: Tensor, y_fit: Tensor, z_val: Tensor, y_val: Tensor, n_classes: int,
                 grid: tuple[float, ...], start: tuple[Tensor, Tensor] | None = None
                 ) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], Tensor]:
    """Probes fitted on ``z_fit`` [E, n, h] at every L2 penalty of ``grid`` (from ``start`` as
    :func:`fit_probe`; two classes: each penalty from the last, the largest first); for each
    model the one with the lowest cross-entropy on its held-out rows ``z_val`` (ties: the
    smaller penalty). Returns that probe (stacked as :func:`fit_probe` returns it) and the
    penalties chosen [E]."""
    grid = tuple(sorted(grid))
    if n_classes == 2:  # Newton, warm-started from the largest penalty down, one design
        fits, (design, first) = [], _binary_setup(z_fit, start)
        for lam in reversed(grid):
            probe, first = fit_binary_probe(z_fit, y_fit, lam, first, design=design)
            fits.insert(0, probe)
    else:
        fits = [fit_probe(z_fit, y_fit, n_classes, l2=lam, start=start) for lam in grid]
    val_ce = torch.stack([probe_metrics(z_val, y_val, probe)[1] for probe in fits])  # [L, E]
    choice = val_ce.argmin(dim=0)  # first minimum: the smallest penalty among ties (grid sorted)
    picked = tuple(torch.stack([fits[int(c)][i][e] for e, c in enumerate(choice)])
                   for i in range(4))
    return picked, torch.tensor(grid, dtype=torch.float64)[choice.cpu()]
