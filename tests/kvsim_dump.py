"""kvsim_dump.py - read a `kvsim run --dump DIR` directory (README "Dumps"):
meta.json, weights/<unit>.<name>.npy and the per-phase arrays. Shared by the
NumPy checkers tests/hf_check.py and tests/numpy_deepseek.py."""
import json
import os

import numpy as np


class Dump:
    def __init__(self, d):
        self.d = d
        with open(os.path.join(d, "meta.json")) as f:
            self.meta = json.load(f)

    def w(self, unit, name):
        """Weight `name` of unit (L<i>, embed, ple, head) in float64, or None."""
        p = os.path.join(self.d, "weights", f"{unit}.{name}.npy")
        return np.load(p).astype(np.float64) if os.path.exists(p) else None

    def get(self, *parts):
        """The array at DIR/parts..., as stored."""
        return np.load(os.path.join(self.d, *parts))
