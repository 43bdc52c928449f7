"""Model files that load without running code: tensors and plain containers only.

scvi-tools pickles ``model.pt`` (numpy arrays, pandas DataFrames, …) and reads it with
``torch.load(weights_only=False)``, which runs whatever code a file carries: loading a model
shared on a hub would trust its author with the user's machine. Here ``save`` rewrites the
file with numpy arrays and DataFrames encoded as tensors, lists and dicts, so that it loads
with ``torch.load(weights_only=True)``, and ``load`` reads it that way; a file that needs
unpickling is refused unless the user opts in (``trust_pickle=True``).
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scvi.model.base._constants import SAVE_KEYS

from scvi_interpret.errors import ModelFileError

TAG = "__scvi_interpret_type__"


def to_plain(value, where: str = "model file"):
    """``value`` with numpy arrays, scalars and pandas objects encoded as plain containers.

    Parameters
    ----------
    value
        What scvi-tools saves: nested dicts/lists/tuples of tensors, numpy arrays and
        scalars, DataFrames, Series, Index and Python scalars.
    where
        Path of ``value`` inside the file, for the error.

    Raises
    ------
    TypeError
        For an object that has no plain encoding (it could only be pickled).
    """
    if isinstance(value, np.generic):  # before the builtins: np.float64 is a float
        return value.item()
    if value is None or isinstance(value, torch.Tensor):
        return value
    for builtin in (bool, int, float, str):  # subclasses (np.str_, …) pickle as their class
        if isinstance(value, builtin):
            return builtin(value)
    if isinstance(value, os.PathLike):  # e.g. a GMT path given to ProgramVI
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {TAG: "ndarray", "values": torch.from_numpy(np.ascontiguousarray(value))}
        if value.dtype.kind in "OUS":
            items = [to_plain(item, where) for item in value.ravel().tolist()]
            return {TAG: "ndarray", "items": items, "shape": list(value.shape),
                    "dtype": "object" if value.dtype.kind == "O" else "str"}  # fmt: skip
    if isinstance(value, pd.DataFrame):
        return {TAG: "DataFrame", "index": to_plain(value.index, where),
                "columns": to_plain(value.columns, where),
                "data": [to_plain(value.iloc[:, i].to_numpy(), where)
                         for i in range(value.shape[1])]}  # fmt: skip
    if isinstance(value, pd.Series):
        return {TAG: "Series", "index": to_plain(value.index, where), "name": value.name,
                "values": to_plain(value.to_numpy(), where)}  # fmt: skip
    if isinstance(value, pd.Index):
        return {TAG: "Index", "values": to_plain(value.to_numpy(), where), "name": value.name}
    if isinstance(value, dict):
        return {key: to_plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"{where} holds a {type(value).__name__}, which has no plain encoding.")


def from_plain(value):
    """Inverse of :func:`to_plain`."""
    if isinstance(value, list):
        return [from_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(from_plain(item) for item in value)
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {key: from_plain(item) for key, item in value.items()}
    if kind == "ndarray":
        if "values" in value:
            return value["values"].numpy()
        dtype = object if value["dtype"] == "object" else str
        array = np.empty(len(value["items"]), dtype=object)
        array[:] = value["items"]
        return array.astype(dtype).reshape(value["shape"])
    if kind == "Index":
        return pd.Index(from_plain(value["values"]), name=value["name"])
    if kind == "Series":
        return pd.Series(from_plain(value["values"]), index=from_plain(value["index"]),
                         name=value["name"])  # fmt: skip
    columns = from_plain(value["columns"])
    data = {i: from_plain(column) for i, column in enumerate(value["data"])}
    frame = pd.DataFrame(data, index=from_plain(value["index"]))
    frame.columns = columns
    return frame


def write_plain(path: Path) -> None:
    """Rewrite a model file scvi-tools just saved (trusted: ours) in the plain encoding."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    torch.save(to_plain(saved), path)


def read_model_file(path: Path, map_location=None, trust_pickle: bool = False) -> dict:
    """Read a model file without running code from it, and decode it.

    Raises
    ------
    ModelFileError
        The file needs unpickling (it could run code) and ``trust_pickle`` is False, or a
        saved weight is NaN or infinite.
    """
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not trust_pickle:
            raise ModelFileError(
                f"{path} holds pickled Python objects, and unpickling a file can run code "
                "from it, so it was not loaded. Models saved by scvi-interpret ≥ 0.2 hold "
                "only tensors and plain containers. If you trust where this file comes "
                "from (e.g. you saved it with an older version), load it with "
                "`Model.load(folder, trust_pickle=True)` and save it again."
            ) from error
        saved = torch.load(path, map_location=map_location, weights_only=False)
    saved = from_plain(saved)
    broken = [
        name
        for name, tensor in saved.get("model_state_dict", {}).items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not torch.isfinite(tensor).all()
    ]
    if broken:
        raise ModelFileError(
            f"The saved weights {broken[:3]} hold NaN or infinite values: the model file "
            "is corrupted, or training diverged before it was saved."
        )
    return saved


def load_saved_files(
    dir_path: str,
    load_adata: bool,
    prefix: str | None = None,
    map_location=None,
    backup_url: str | None = None,
    trust_pickle: bool = False,
    already_read: dict[Path, dict] | None = None,
):
    """scvi-tools' ``_load_saved_files``, reading the model file with :func:`read_model_file`.

    ``already_read`` maps a model file to its decoded content when the caller read it before
    (``load`` reads it once to check the data first). Returns ``(attr_dict, var_names,
    model_state_dict, adata)`` as scvi-tools does.
    """
    import anndata
    import mudata
    from scvi.data._download import _download

    model_file = Path(dir_path) / f"{prefix or ''}{SAVE_KEYS.MODEL_FNAME}"
    saved = (already_read or {}).get(model_file)
    if saved is None:
        _download(backup_url, dir_path, model_file.name)
        saved = read_model_file(model_file, map_location, trust_pickle)
    attr_dict = saved["attr_dict"]
    adata = None
    if load_adata:
        is_mudata = attr_dict["registry_"].get("setup_method_name") == "setup_mudata"
        data_name = SAVE_KEYS.MDATA_FNAME if is_mudata else SAVE_KEYS.ADATA_FNAME
        file_name = f"{prefix or ''}{data_name}"
        data_path = os.path.join(dir_path, file_name)
        if os.path.exists(data_path):
            adata = mudata.read(data_path) if is_mudata else anndata.read_h5ad(data_path)
        else:
            warnings.warn(
                f"{dir_path} holds no saved data and none was passed: the model is loaded "
                "without an AnnData/MuData.",
                UserWarning,
                stacklevel=4,
            )
            adata = False
    return attr_dict, saved["var_names"], saved["model_state_dict"], adata


@contextmanager
def reference_weights_follow() -> Iterator[None]:
    """Within this block the module's start values do not matter (``load_query_data``).

    A query model's weights are the reference's, loaded right after its module is built, so
    the note that the registry has no count statistics for start values asks nothing of the
    user there.
    """
    from ._init_values import NO_STATISTICS

    with safe_model_files(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NO_STATISTICS)
        yield


@contextmanager
def safe_model_files(
    trust_pickle: bool = False, already_read: dict[Path, dict] | None = None
) -> Iterator[None]:
    """Within this block, scvi-tools reads model files with :func:`load_saved_files`.

    scvi-tools calls its module-level ``_load_saved_files`` from ``BaseModelClass.load``,
    from ``ArchesMixin`` (``load_query_data``, ``prepare_query_anndata`` given a folder) and
    from scvi-hub's metadata and model card helpers; these are pointed at the safe reader for
    the duration of the block, which keeps scvi-tools' own loading logic (registry, device,
    module rebuild) unchanged, rather than copying it here.
    """
    from scvi.model.base import _archesmixin, _base_model

    modules = [_base_model, _archesmixin]
    if sys.modules.get("scvi.hub._metadata") is not None:  # scvi-hub's model card reader
        modules.append(sys.modules["scvi.hub._metadata"])
    originals = [module._load_saved_files for module in modules]
    reader = partial(load_saved_files, trust_pickle=trust_pickle, already_read=already_read)
    for module in modules:
        module._load_saved_files = reader
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module._load_saved_files = original
