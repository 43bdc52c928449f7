"""Write an AnnData or MuData to a TileDB-SOMA experiment, one measurement per modality."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import mudata as md
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scvi_interpret.errors import ArgumentTypeError, InvalidDataError


def write_soma(
    data: AnnData | md.MuData,
    uri: str | Path,
    measurements: Mapping[str, str] | None = None,
    layers: Mapping[str, str | None] | None = None,
    obs_columns: Sequence[str] | None = None,
) -> str:
    """Write cells to a new SOMA experiment with ``tiledbsoma.io``; returns its URI.

    An AnnData becomes the measurement ``"RNA"``; each modality of a MuData becomes a
    measurement of the same cells (the MuData must have every cell in every modality, see
    :meth:`~scvi_interpret.model.MultimodalClassifier.align_mudata`). The counts go to the X
    layer ``"data"``, the feature names to ``var["var_id"]``, the cell names to
    ``obs["obs_id"]``, the global ``obs`` columns to ``obs``.

    Parameters
    ----------
    data
        AnnData, or MuData with aligned modalities.
    uri
        Folder of the new experiment (must not exist).
    measurements
        MuData modality key (or ``"X"`` for an AnnData) -> measurement name; default the
        modality key, ``"RNA"`` for an AnnData.
    layers
        Same keys -> layer with the counts; default ``.X``.
    obs_columns
        ``obs`` columns to write; default all.

    Returns
    -------
    The experiment's URI.

    Examples
    --------
    >>> uri = si.data.write_soma(mdata, "pbmc.soma")  # measurements 'rna', 'prot'
    >>> dm = si.data.SomaDataModule(uri, si.model.MultimodalClassifier, labels_key="cell_type",
    ...                             modalities={"rna": "rna", "protein": "prot"})
    """
    import pyarrow as pa
    import tiledbsoma
    import tiledbsoma.io

    uri = str(uri)
    if Path(uri).exists():
        raise FileExistsError(f"{uri} exists; write_soma creates a new experiment.")
    if isinstance(data, md.MuData):
        modalities = dict(data.mod)
        for key, modality in modalities.items():
            if not modality.obs_names.equals(data.obs_names):
                raise InvalidDataError(
                    f"Modality {key!r} does not have the MuData's cells in its order; align "
                    "them first (MultimodalClassifier.align_mudata)."
                )
        obs = data.obs[[c for c in data.obs.columns if ":" not in c]]
    elif isinstance(data, AnnData):
        modalities, obs = {"X": data}, data.obs
    else:
        raise ArgumentTypeError(
            f"write_soma takes an AnnData or a MuData, not {type(data).__name__}."
        )
    names = {key: (measurements or {}).get(key, "RNA" if key == "X" else key)
             for key in modalities}  # fmt: skip
    obs = obs if obs_columns is None else obs[list(obs_columns)]
    obs = pd.DataFrame(obs).copy()
    for i, (key, modality) in enumerate(modalities.items()):
        layer = (layers or {}).get(key)
        counts = modality.X if layer is None else modality.layers[layer]
        single = AnnData(
            sparse.csr_matrix(counts, dtype="float32"),
            obs=obs.set_axis(modality.obs_names),
            var=pd.DataFrame(index=modality.var_names.astype(str)),
        )
        if i == 0:
            tiledbsoma.io.from_anndata(uri, single, measurement_name=names[key], uns_keys=[])
            continue
        # a further measurement of the same cells: tiledbsoma.io's append workflow
        with tiledbsoma.Experiment.open(uri, "w") as experiment:
            measurement = experiment.ms.add_new_collection(names[key], tiledbsoma.Measurement)
            measurement.add_new_dataframe(
                "var",
                schema=pa.schema([("var_id", pa.large_string())]),
                index_column_names=["soma_joinid"],
                domain=[(0, 0)],
            )
        mapping = tiledbsoma.io.register_anndatas(
            uri, [single], measurement_name=names[key], obs_field_name="obs_id",
            var_field_name="var_id", allow_duplicate_obs_ids=True,
        )  # fmt: skip
        mapping.prepare_experiment(uri)
        tiledbsoma.io.from_anndata(uri, single, measurement_name=names[key],
                                   registration_mapping=mapping, uns_keys=[])  # fmt: skip
    return uri
