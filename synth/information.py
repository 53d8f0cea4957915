"""Exact information-theoretic ground truth: Bayes accuracy, Bayes cross-entropy, mutual
information and partial information decompositions (PID), in nats.

Classification (:class:`ClassConditionalGaussianLaw`): the posterior p(y | x_S) is exact, so
every quantity is an expectation over x of a known function of the posterior and is computed
by Monte Carlo on a large sample, reported with a 95 % normal interval:

    Bayes accuracy  A*(S) = E_x[max_c p(c | x_S)]        (Rao-Blackwellised: lower variance
                                                          than counting correct argmaxes),
    Bayes CE        H(y | x_S) = E_x[-sum_c p(c|x_S) log p(c|x_S)],
    MI              I(x_S; y) = E_x[KL(p(. | x_S) || p(.))],
    specific info   I_spec(c; X_S) = E[log p(c|X_S)/p(c) | y = c]
                                   = E_x[(p(c|x_S)/p(c)) log(p(c|x_S)/p(c))]
                    (importance-weighted from the marginal sample, so that
                    sum_c p(c) I_spec(c; X_S) = I(x_S; y) holds sample by sample and the PID
                    identities hold exactly, not only up to Monte Carlo noise).

Regression (:class:`LinearGaussianLaw`, scalar Gaussian target of variance V):
I(x_S; y) = 1/2 log(V / r*(S)) exactly; infinite when x_S determines y (r*(S) = 0), which is why
the Huang generator has an optional label-noise variance.

Two PIDs of I(y; A, B) for disjoint groups of modalities A, B, with R + U_A = I(A),
R + U_B = I(B), R + U_A + U_B + S = I(A, B):

- MMI (minimum mutual information; Barrett 2015): R = min(I(A), I(B)). Exact for Gaussian
  sources with a scalar Gaussian target, where the other common PIDs agree with it. It gives
  the less informative source zero unique information by construction, so it undercounts
  unique information and counts the gain of combining two noisy views of the same signal
  (noise averaging) as synergy.
- I_min (Williams & Beer 2010): R = sum_y p(y) min_{i in {A,B}} I_spec(y; X_i) with specific
  information I_spec(y; X) = E[log p(y | X) / p(y) | y]. It can count as redundant two sources
  that inform about the same outcome y in different ways ("same amount, not same information"),
  so it overcounts redundancy.

Under both, two conditionally independent modalities that each inform the same label share
redundancy, so rho = 0 does not mean zero redundancy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from synth.law import ClassConditionalGaussianLaw, LinearGaussianLaw
from synth.subsets import Subset

#: The normal 97.5 % quantile: Monte Carlo means over >= 20 000 draws are normal to that order.
Z95 = NormalDist().inv_cdf(0.975)  # the standard library's: scipy.stats costs 0.6 s to import


@dataclass(frozen=True)
class SubsetInformation:
    """Monte Carlo ground truth of one subset S; ``*_hw``: 95 % interval half-widths."""

    subset: Subset
    bayes_accuracy: float
    bayes_accuracy_hw: float
    cross_entropy: float
    cross_entropy_hw: float
    mutual_information: float
    mutual_information_hw: float
    specific_information: np.ndarray  # [C]: I_spec(c; X_S)
    n_samples: int


class _Moments:
    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.n = 0
        self.s1 = np.zeros(shape)
        self.s2 = np.zeros(shape)

    def add(self, values: np.ndarray) -> None:
        self.n += values.shape[0]
        self.s1 += values.sum(axis=0)
        self.s2 += (values**2).sum(axis=0)

    def mean(self) -> np.ndarray:
        return self.s1 / self.n

    def halfwidth(self) -> np.ndarray:
        var = np.maximum(self.s2 / self.n - self.mean() ** 2, 0.0) * self.n / max(self.n - 1, 1)
        return Z95 * np.sqrt(var / self.n)


def classification_information(
    law: ClassConditionalGaussianLaw,
    subsets: Sequence[Subset],
    seed: int,
    halfwidth: float = 0.001,
    pilot: int = 20_000,
    max_samples: int = 4_000_000,
    chunk: int = 50_000,
) -> list[SubsetInformation]:
    """Bayes accuracy, CE, MI and specific informations of every subset, on one Monte Carlo
    sample of (x, y) shared by all subsets. The sample size is chosen from a pilot so that the
    95 % half-width of every Bayes accuracy is below ``halfwidth`` (capped at ``max_samples``)."""
    rng = np.random.default_rng(seed)
    cols = [law.columns(s) for s in subsets]
    posteriors = [law.posterior(s) for s in subsets]
    log_prior = np.log(law.priors)

    acc = [_Moments() for _ in subsets]
    ce = [_Moments() for _ in subsets]
    mi = [_Moments() for _ in subsets]
    spec = [_Moments((law.n_classes,)) for _ in subsets]

    def consume(n: int) -> None:
        x, _ = law.sample(n, rng)
        for i, (post_fn, c) in enumerate(zip(posteriors, cols)):
            lp = post_fn(x[:, c])
            post = np.exp(lp)
            acc[i].add(post.max(axis=1))
            ce[i].add(-(post * lp).sum(axis=1))
            pointwise = post * (lp - log_prior)  # [n, C]; row sums: KL(posterior || prior)
            mi[i].add(pointwise.sum(axis=1))
            spec[i].add(pointwise / law.priors)

    consume(pilot)
    worst = max(float(a.halfwidth()) for a in acc) * np.sqrt(pilot)
    target = int(np.ceil((worst / (0.9 * halfwidth)) ** 2))
    total = min(max(target, pilot), max_samples)
    done = pilot
    while done < total:
        step = min(chunk, total - done)
        consume(step)
        done += step
    out = []
    for i, s in enumerate(subsets):
        out.append(
            SubsetInformation(
                subset=tuple(s),
                bayes_accuracy=float(acc[i].mean()),
                bayes_accuracy_hw=float(acc[i].halfwidth()),
                cross_entropy=float(ce[i].mean()),
                cross_entropy_hw=float(ce[i].halfwidth()),
                mutual_information=float(mi[i].mean()),
                mutual_information_hw=float(mi[i].halfwidth()),
                specific_information=spec[i].mean(),
                n_samples=done,
            )
        )
    return out


def gaussian_mutual_information(law: LinearGaussianLaw, subset: Subset) -> float:
    """I(x_S; y) = 1/2 log(Var(y) / r*(S)) for a scalar Gaussian target (inf if r*(S) = 0)."""
    r = law.bayes_mse(subset)
    return float("inf") if r <= 0 else 0.5 * float(np.log(law.target_variance() / r))


def gaussian_specific_information_coefficients(
    law: LinearGaussianLaw, subset: Subset
) -> tuple[float, float]:
    """I_spec(y; X_S) = E[log p(y | x_S) / p(y) | y] = alpha + beta y^2 for a scalar Gaussian
    target, in closed form.

    With V = Var(y), r = r*(S) and the Bayes prediction y_hat = E[y | x_S]:
    E[y_hat | y] = (1 - r/V) y and Var(y_hat | y) = (V - r) r / V, so
    I_spec(y) = 1/2 log(V/r) - [(r y / V)^2 + (V - r) r / V] / (2 r) + y^2 / (2 V), i.e.
    alpha = 1/2 log(V/r) - (V - r)/(2 V) and beta = (V - r) / (2 V^2). Its mean over
    y ~ N(0, V) is alpha + beta V = I(x_S; y).
    """
    v, r = law.target_variance(), law.bayes_mse(subset)
    if r <= 0:
        return float("inf"), 0.0
    return 0.5 * float(np.log(v / r)) - (v - r) / (2 * v), (v - r) / (2 * v * v)


def _mean_min_of_even_quadratics(a1: float, b1: float, a2: float, b2: float, v: float) -> float:
    """E[min(a1 + b1 y^2, a2 + b2 y^2)] for y ~ N(0, v), exactly (the two curves cross at most
    once in y^2 >= 0)."""
    if not np.isfinite(a1) or not np.isfinite(a2):
        return min(a1 + b1 * v, a2 + b2 * v)
    if b1 == b2 or (a1 - a2) * (b2 - b1) <= 0:  # one curve lies below the other everywhere
        return min(a1 + b1 * v, a2 + b2 * v)
    t = np.sqrt((a1 - a2) / (b2 - b1))  # crossing |y| = t
    z = t / np.sqrt(v)
    p_in = math.erf(z / np.sqrt(2))
    y2_in = v * (p_in - 2 * z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi))  # E[y^2; |y| < t]
    (ai, bi), (ao, bo) = ((a1, b1), (a2, b2)) if a1 < a2 else ((a2, b2), (a1, b1))
    return ai * p_in + bi * y2_in + ao * (1 - p_in) + bo * (v - y2_in)


def pid_mmi(i_a: float, i_b: float, i_ab: float) -> dict[str, float]:
    """Minimum-mutual-information PID: R = min(I_A, I_B)."""
    return _pid(min(i_a, i_b), i_a, i_b, i_ab)


def pid_imin_classification(
    info_a: SubsetInformation, info_b: SubsetInformation, info_ab: SubsetInformation,
    priors: np.ndarray,
) -> dict[str, float]:
    """Williams-Beer PID: R = sum_c p(c) min(I_spec(c; X_A), I_spec(c; X_B)). Specific
    informations come from the same Monte Carlo sample; I_A, I_B, I_AB from posterior entropies."""
    red = float((priors * np.minimum(info_a.specific_information,
                                     info_b.specific_information)).sum())
    return _pid(red, info_a.mutual_information, info_b.mutual_information,
                info_ab.mutual_information)


def pid_imin_regression(law: LinearGaussianLaw, a: Subset, b: Subset) -> dict[str, float]:
    """Williams-Beer PID for a scalar Gaussian target: R = E_y[min_i I_spec(y; X_i)], exactly
    (the specific informations are even quadratics in y)."""
    ca = gaussian_specific_information_coefficients(law, a)
    cb = gaussian_specific_information_coefficients(law, b)
    red = _mean_min_of_even_quadratics(*ca, *cb, law.target_variance())
    return _pid(red, gaussian_mutual_information(law, a), gaussian_mutual_information(law, b),
                gaussian_mutual_information(law, tuple(sorted(set(a) | set(b)))))


def _pid(red: float, i_a: float, i_b: float, i_ab: float) -> dict[str, float]:
    """The atoms of a two-source PID from its redundancy, plus the conditional informations
    I(y; B | A) = U_B + S and I(y; A | B) = U_A + S, which need no choice of PID."""
    return {
        "redundancy": red,
        "unique_a": i_a - red,
        "unique_b": i_b - red,
        "synergy": i_ab - i_a - i_b + red,
        "i_a": i_a,
        "i_b": i_b,
        "i_ab": i_ab,
        "i_a_given_b": i_ab - i_b,
        "i_b_given_a": i_ab - i_a,
    }
