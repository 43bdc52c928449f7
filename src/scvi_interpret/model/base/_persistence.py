"""Save and load that notice corrupted files and data with other features."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from scvi_interpret.errors import ModelFileError

CHECKSUM_SUFFIX = ".sha256"
MODEL_FILE = "model.pt"


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CheckedPersistenceMixin:
    """Save with a checksum; load only what was saved, onto data with the model's features.

    ``save`` writes a SHA-256 of the model file next to it; ``load`` checks it, that every
    saved weight is finite and the new data's features against the saved registry, all
    before anything is set up.
    """

    def save(self, dir_path: str, prefix: str | None = None, **kwargs) -> None:
        """Save as scvi-tools does, plus ``model.pt.sha256`` (the model file's checksum)."""
        super().save(dir_path, prefix=prefix, **kwargs)
        model_file = Path(dir_path) / f"{prefix or ''}{MODEL_FILE}"
        Path(f"{model_file}{CHECKSUM_SUFFIX}").write_text(file_digest(model_file) + "\n")

    @classmethod
    def load(cls, dir_path: str, adata=None, prefix: str | None = None, **kwargs):
        """Load as scvi-tools does, after checking the file and the data's features.

        Raises
        ------
        ModelFileError
            If the model file differs from the one saved (checksum) or a loaded weight is
            not finite.
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
        if os.path.exists(model_file):
            saved = torch.load(model_file, map_location="cpu", weights_only=False)
            broken = [
                name
                for name, value in saved["model_state_dict"].items()
                if isinstance(value, torch.Tensor)
                and value.is_floating_point()
                and not torch.isfinite(value).all()
            ]
            if broken:
                raise ModelFileError(
                    f"The saved weights {broken[:3]} hold NaN or infinite values: the model file "
                    "is corrupted, or training diverged before it was saved."
                )
            if adata is not None and adata is not False:
                check_features(saved["attr_dict"]["registry_"], adata, cls.__name__)
                check_new_data(saved["attr_dict"]["registry_"], adata)
        return super().load(dir_path, adata=adata, prefix=prefix, **kwargs)
