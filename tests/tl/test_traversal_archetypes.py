import numpy as np
import pytest
import torch

from scvi_interpret.tl import archetypal_analysis, latent_traversal


def test_archetypes_recover_simplex_corners():
    rng = np.random.default_rng(0)
    corners = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 1.0], [0.0, 4.0, -1.0]])
    weights = rng.dirichlet([0.4] * 3, size=600)
    latent = weights @ corners + rng.normal(0, 0.03, (600, 3))
    fit = archetypal_analysis(latent, seed=0)
    assert fit.n_archetypes == 3
    distances = np.linalg.norm(fit.archetypes[:, None, :] - corners[None], axis=-1)
    assert distances.min(0).max() < 0.3  # every corner has an archetype next to it
    np.testing.assert_allclose(fit.weights.sum(1), 1.0, atol=1e-6)
    assert fit.explained_variance[3] > 0.95
    with pytest.raises(ValueError, match="n_archetypes must be between"):
        archetypal_analysis(latent, n_archetypes=1)


def test_coreset_fit_finds_planted_extreme_points_of_many_cells():
    """50,000 mixtures of 5 planted states in 12 dimensions: fitted on a 2,000-cell coreset,
    every cell projected; the 5 states, their number and each cell's mixture come back."""
    rng = np.random.default_rng(1)
    corners = rng.normal(0.0, 3.0, (5, 12))
    mixtures = rng.dirichlet([0.3] * 5, size=50_000)
    latent = mixtures @ corners + rng.normal(0, 0.05, (50_000, 12))
    fit = archetypal_analysis(latent, seed=0)
    assert fit.n_archetypes == 5 and fit.n_fit_cells == 2000
    distances = np.linalg.norm(fit.archetypes[:, None, :] - corners[None], axis=-1)
    assert distances.min(0).max() < 0.3  # corners are ~4 apart per dimension
    matched = distances.argmin(0)  # archetype next to each corner
    assert len(set(matched)) == 5
    assert fit.weights.shape == (50_000, 5)
    np.testing.assert_allclose(fit.weights.sum(1), 1.0, atol=1e-5)
    assert (fit.weights >= 0).all()
    agreement = [np.corrcoef(fit.weights[:, matched[c]], mixtures[:, c])[0, 1] for c in range(5)]
    assert min(agreement) > 0.98, agreement
    with pytest.raises(ValueError, match="coreset_size"):
        archetypal_analysis(latent[:10], coreset_size=1)


def test_traversal_of_a_linear_softmax_decoder_follows_its_weights():
    rng = np.random.default_rng(0)
    weights = torch.as_tensor(rng.normal(size=(30, 3)), dtype=torch.float32)

    def decode(z):
        return {"rna": torch.softmax(z @ weights.T, dim=-1)}

    latent = rng.normal(size=(200, 3))
    table, curves = latent_traversal(
        decode, latent, [0, 2], ["a", "b", "c"], {"rna": [f"g{i}" for i in range(30)]}
    )
    assert curves["rna"].shape == (2, 11, 30)
    for dim, name in [(0, "a"), (2, "c")]:
        lfc = table[table["dimension"] == name].set_index("feature")["log2_fold_change"]
        r = np.corrcoef(lfc.loc[[f"g{i}" for i in range(30)]], weights[:, dim])[0, 1]
        assert r > 0.999
    flipped, _ = latent_traversal(
        decode, latent, [0], ["a", "b", "c"], {"rna": [f"g{i}" for i in range(30)]},
        directions=np.array([-1.0, 1.0, 1.0]),
    )  # fmt: skip
    np.testing.assert_allclose(
        flipped.set_index("feature")["log2_fold_change"].sort_index(),
        -table.query("dimension == 'a'").set_index("feature")["log2_fold_change"].sort_index(),
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip
    with pytest.raises(ValueError, match="n_steps"):
        latent_traversal(decode, latent, [0], ["a", "b", "c"], {"rna": []}, n_steps=1)
