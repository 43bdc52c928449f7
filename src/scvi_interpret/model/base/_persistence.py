"""Save and load that notice corrupted files and data with other features."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from scvi.model.base._constants import SAVE_KEYS

from scvi_interpret.errors import ModelFileError

from ._safe_files import read_model_file, safe_model_files, write_plain

CHECKSUM_SUFFIX = ".sha256"
MODEL_FILE = SAVE_KEYS.MODEL_FNAME


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CheckedPersistenceMixin:
    """Save with a checksum; load only what was saved, onto data with the model's features.

    ``save`` writes a model file of tensors and plain containers and its SHA-256 next to it;
    ``load`` checks the checksum, reads the file without unpickling (no code from the file
    runs), checks that every saved weight is finite and the new data's features against the
    saved registry, all before anything is set up.
    """

    def save(self, dir_path: str, prefix: str | None = None, **kwargs) -> None:
        """Save as scvi-tools does, in a model file that loads without running code.

        ``model.pt`` holds only tensors and plain containers (numpy arrays and DataFrames
        encoded), so it loads with ``torch.load(weights_only=True)``; ``model.pt.sha256`` is
        its checksum.
        """
        super().save(dir_path, prefix=prefix, **kwargs)
        model_file = Path(dir_path) / f"{prefix or ''}{MODEL_FILE}"
        write_plain(model_file)
        Path(f"{model_file}{CHECKSUM_SUFFIX}").write_text(file_digest(model_file) + "\n")

    @classmethod
    def load(
        cls,
        dir_path: str,
        adata=None,
        prefix: str | None = None,
        trust_pickle: bool = False,
        **kwargs,
    ):
        """Load as scvi-tools does, without running code from the file, after checks.

        Parameters
        ----------
        dir_path
            Folder the model was saved to.
        adata
            AnnData/MuData to attach (with the model's features), or ``None`` for the data
            saved with the model.
        prefix
            File name prefix used at save.
        trust_pickle
            Also load a model file that needs unpickling (saved by scvi-interpret < 0.2 or
            another tool). Unpickling can run code from the file: only for files you trust.
        **kwargs
            Passed to :meth:`scvi.model.base.BaseModelClass.load` (``accelerator``,
            ``device``, ``backup_url``…).

        Raises
        ------
        ModelFileError
            If the model file differs from the one saved (checksum), needs unpickling
            (without ``trust_pickle``), or a loaded weight is not finite.
        FeatureMismatchError
            If ``adata``'s features differ from the model's (names or order, per modality).
        InvalidDataError
            If ``adata`` does not hold counts (e.g. log-normalised), or its modalities are
            not aligned.
        """
        from ._cells import check_features, check_new_data

        model_file = Path(dir_path) / f"{prefix or ''}{MODEL_FILE}"
        checksum = Path(f"{model_file}{CHECKSUM_SUFFIX}")
        if checksum.exists() and file_digest(model_file) != checksum.read_text().strip():
            raise ModelFileError(
                f"{model_file} is not the file that was saved (its checksum differs from "
                f"{checksum.name}): it was changed or corrupted. Load a good copy, or save the "
                "model again."
            )
        already_read = {}
        if os.path.exists(model_file):
            saved = read_model_file(model_file, "cpu", trust_pickle)
            already_read[model_file] = saved  # scvi-tools' load below reuses it
            if adata is not None and adata is not False:
                check_features(saved["attr_dict"]["registry_"], adata, cls.__name__)
                check_new_data(saved["attr_dict"]["registry_"], adata)
        with safe_model_files(trust_pickle, already_read):
            return super().load(dir_path, adata=adata, prefix=prefix, **kwargs)
