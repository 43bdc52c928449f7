import numpy as np
import pandas as pd
import pytest

import scvi_interpret as si


def test_top_features_orders_both_directions():
    loadings = pd.DataFrame(
        {"f0": [3.0, -2.0, 1.0, 0.0], "f1": [0.0, 5.0, -4.0, 2.0]}, index=list("abcd")
    )
    top = si.tl.top_features(loadings, n_top=2)
    f0_pos = top.query("factor == 'f0' and direction == 'positive'")
    assert f0_pos["feature"].tolist() == ["a", "c"] and f0_pos["rank"].tolist() == [1, 2]
    f1_neg = top.query("factor == 'f1' and direction == 'negative'")
    assert f1_neg["feature"].tolist() == ["c", "a"]
    assert len(top) == 8
    with pytest.raises(ValueError, match="n_top"):
        si.tl.top_features(loadings, n_top=0)


def test_group_means_recovers_planted_group():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 3))
    groups = np.repeat(["x", "y", "z"], 100)
    values[groups == "y", 1] += 3.0
    means = si.tl.group_means(values, groups)
    assert means.shape == (3, 3)
    assert means["factor_1"].idxmax() == "y"
    assert means.loc["y", "factor_1"] > 1.0
    with pytest.raises(ValueError, match="groups has"):
        si.tl.group_means(values, groups[:10])
