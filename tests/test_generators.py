import numpy as np
import pytest

from synth import make_law
from synth.datasets import Datasets, Splits, draw_datasets


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0])
def test_huang_sample_statistics(rho):
    k, d, n = 3, 4, 200_000
    law = make_law("huang_overlap", n_modalities=k, dim=d, overlap=rho)
    x, y = law.sample(n, np.random.default_rng(0))
    x1, x2 = x[:, :d], x[:, d : 2 * d]
    assert np.allclose(x1.mean(0), 0, atol=0.01) and np.allclose(x1.var(0), 1, atol=0.015)
    var2 = rho**2 + (1 - rho) ** 2
    assert np.allclose(x2.var(0), var2, atol=0.015)
    # cov(x_1j, x_kj) = rho; other coordinates uncorrelated
    assert np.allclose(np.mean(x1 * x2, axis=0), rho, atol=0.01)
    assert abs(np.mean(x1[:, 0] * x2[:, 1])) < 0.01
    # the noise-free target is exactly the sum of every coordinate
    assert np.allclose(y, x.sum(axis=1))
    assert np.allclose(np.cov(np.hstack([x, y[:, None]]).T), law.covariance, rtol=0.02, atol=0.03)


def test_huang_rejects_bad_knobs():
    for bad in [dict(overlap=-0.1), dict(overlap=1.1), dict(n_modalities=0), dict(dim=0),
                dict(target_noise_var=-1.0)]:
        with pytest.raises(ValueError):
            make_law("huang_overlap", **bad)


def test_datasets_are_seeded_and_share_latents_across_overlaps():
    splits = Splits(n_train=50, n_test=20, val_fraction=0.2)
    assert (splits.n_fit, splits.n_val) == (40, 10)
    a = make_law("huang_overlap", n_modalities=2, dim=3, overlap=0.2)
    b = make_law("huang_overlap", n_modalities=2, dim=3, overlap=0.7)
    da = draw_datasets(a, 0.2, [0, 1], splits.n_total)
    xa, ya = da.x, da.y
    xa2 = draw_datasets(a, 0.2, [0, 1], splits.n_total).x
    db = draw_datasets(b, 0.7, [0, 1], splits.n_total)
    xb = db.x
    assert xa.shape == (2, 70, 6) and ya.shape == (2, 70)
    assert np.array_equal(xa, xa2)
    assert not np.array_equal(xa[0], xa[1])
    assert np.array_equal(xa[:, :, :3], xb[:, :, :3])  # modality 1 = the shared latent x_1
    # datasets are found by their (overlap, seed) key, whatever their position
    both = Datasets.concat([db, da])
    assert both.keys == ((0.7, 0), (0.7, 1), (0.2, 0), (0.2, 1))
    assert np.array_equal(both.x[both.index(0.2, 1)], xa[1])
    with pytest.raises(KeyError, match="no dataset at overlap 0.5"):
        both.index(0.5, 0)
    with pytest.raises(ValueError, match="distinct"):
        Datasets.concat([da, da])
