import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import scvi_interpret as si


def test_heatmaps_return_save_and_show_nothing(tmp_path):
    rng = np.random.default_rng(0)
    loadings = pd.DataFrame(
        rng.normal(size=(30, 4)),
        index=[f"g{i}" for i in range(30)],
        columns=[f"factor_{i}" for i in range(4)],
    )
    fig = si.pl.loadings_heatmap(loadings, n_top=2, return_fig=True, show=False)
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == loadings["factor_0"].idxmax()
    path = tmp_path / "means.png"
    means = si.tl.group_means(rng.normal(size=(20, 4)), np.repeat(["a", "b"], 10))
    assert si.pl.factor_heatmap(means, save=path, show=False) is None
    assert path.stat().st_size > 1000
