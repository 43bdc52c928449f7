"""Peer side of benchmarks/program_vi.py: scArches' EXPIMAP, run in its own environment.

scArches 0.6.1 pins old anndata/scanpy/scvi-tools, so benchmarks/program_vi.py runs this file
with that environment's Python (see the docstring there) and reads back a JSON file and the
program activities (.npy). Inputs are written by the main script: train/test counts (dense,
.npz), the genes × programs mask (.npy).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import anndata as ad
import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import scarches as sca

    data = np.load(args.inputs)
    train = ad.AnnData(data["train"].astype(np.float32))
    test = data["test"].astype(np.float32)
    mask = data["mask"]  # genes × programs
    train.obs["batch"] = "all"
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 - scArches draws from the global state

    # settings of the scArches expiMap tutorial, no condition beyond one batch
    model = sca.models.EXPIMAP(
        adata=train,
        condition_key="batch",
        hidden_layer_sizes=[256, 256, 256],
        recon_loss="nb",
        mask=mask.T,
    )
    start = time.perf_counter()
    model.train(
        n_epochs=args.epochs,
        alpha_epoch_anneal=min(130, args.epochs),
        alpha=0.7,
        alpha_kl=0.5,
        weight_decay=0.0,
        use_early_stopping=False,
        monitor_only_val=False,
        train_frac=1.0,
        seed=args.seed,
        print_n_deactive=False,
    )
    seconds = time.perf_counter() - start

    model.model.eval()
    nll = []
    with torch.no_grad():
        x = torch.tensor(test)
        batch = torch.zeros(len(x), dtype=torch.long)
        for repeat in range(5):
            torch.manual_seed(args.seed + repeat)
            recon, _, _ = model.model(x=x, batch=batch, sizefactor=x.sum(1))
            nll.append(float(recon))
    model.latent_directions(adata=train)
    signs = train.uns["directions"]
    everything = np.concatenate([data["train"], data["test"]]).astype(np.float32)
    activities = model.get_latent(everything, np.array(["all"] * len(everything)), mean=True)
    np.save(args.out + ".activities.npy", activities * signs)
    result = {
        "seconds_per_epoch": seconds / args.epochs,
        "train_call_seconds": seconds,
        "held_out_nll": float(np.mean(nll)),
        "n_active_programs": len(model.nonzero_terms()),
        "scarches": sca.__version__ if hasattr(sca, "__version__") else "0.6.1",
        "torch": torch.__version__,
    }
    with open(args.out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
