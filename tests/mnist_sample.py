"""Read the bundled MNIST sample (gzip IDX) with gzip and numpy only."""
import gzip
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parent.parent / "fastnn" / "datasets" / "sample"


def load_sample(kind="train", dtype=np.float64):
    """(images (N, 784) pixels/255 in dtype, labels (N,) intp) of the bundled sample."""
    prefix = "train" if kind == "train" else "t10k"
    with gzip.open(SAMPLE / f"{prefix}-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(SAMPLE / f"{prefix}-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return (images / 255.0).astype(dtype), labels.astype(np.intp)
