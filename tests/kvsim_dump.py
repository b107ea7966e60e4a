"""kvsim_dump.py - read a `kvsim run --dump DIR` directory (README "Dumps"):
meta.json, weights/<unit>.<name>.npy and the per-phase arrays. Shared by the
NumPy checkers tests/hf_check.py, tests/numpy_deepseek.py and tests/numpy_v4.py;
the last two also share check(), check_logits() and main() below."""
import json
import os
import sys

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


tally = [0, 0]   # checks passed, failed


def check(name, got, want, rtol=1e-4):
    """PASS when the shapes agree and max |got - want| <= rtol * max |want|."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    err = float(np.max(np.abs(got - want)))
    tol = rtol * float(np.max(np.abs(want)))
    if got.shape == want.shape and err <= tol:
        tally[0] += 1
        print(f"PASS {name}  (max err {err:.3g}, {err / max(tol / rtol, 1e-300):.3g} relative)")
    else:
        tally[1] += 1
        print(f"FAIL {name}: max err {err:.3g} > {tol:.3g} (shapes {got.shape} {want.shape})")


def check_logits(tag, D, lp, ld, mtp):
    """The dump's prefill and decode logits against lp and ld; with `run --mtp`
    (prefill/mtp_logits.npy present) its draft logits against mtp(), a pair
    (prefill, decode) computed only then."""
    name = os.path.basename(os.path.normpath(D.d))
    check(f"{tag}/{name}/prefill-logits", D.get("prefill", "logits.npy").reshape(-1), lp)
    check(f"{tag}/{name}/decode-logits", D.get("decode", "logits.npy").reshape(-1), ld)
    if os.path.exists(os.path.join(D.d, "prefill", "mtp_logits.npy")):
        for phase, want in zip(("prefill", "decode"), mtp()):
            check(f"{tag}/{name}/{phase}-mtp-logits", D.get(phase, "mtp_logits.npy").reshape(-1), want)


def main(tag, doc, check_dump):
    """Check every dump directory named on the command line; exit status 0
    only when at least one check ran and none failed."""
    if len(sys.argv) < 2:
        print(doc)
        return 2
    for d in sys.argv[1:]:
        check_dump(d)
    print(f"{tag}: {tally[0]} passed, {tally[1]} failed")
    return 1 if tally[1] or not tally[0] else 0
