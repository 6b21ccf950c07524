"""Bugs planted by hand, one at a time, each in a private copy of the tree: how many tests fail.

    python -m tests.planted [NAME ...]      # default: every bug in PLANTS

Mutation testing (tests/mutation.py) changes one operator or number; these are the wrong
formulas a person writes: a sum over the wrong axis, a mask forgotten, a statistic or a
momentum swapped, a term added twice, a missing 1/N.  Each must fail at least one test of
its selection (TESTS); the counts are recorded in tests/MUTANTS.md.  The tests run with
NUMBA_DISABLE_JIT=1 (as the mutants do) and NUMBA_CACHE_DIR in the copy, so the real
numba cache never sees a planted kernel.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "mutation"

#: bug -> (file, [(code, the code with the bug), ...])
PLANTS = {
    # batch-norm backward: the dxc mean (dmu) summed over the features of a sample instead of over the batch
    "bn_dmu_axis": ("kernels/batchnorm.py", [(
        """    for n in range(N):
        for j in range(D):
            c = coef[j] * (dout[n, j] - xn[n, j] * mean_g[j])
            dx[n, j] = c
            sb[j] += c
    for j in range(D):
        sb[j] /= N
    for n in range(N):
        for j in range(D):
            dx[n, j] -= sb[j]""",
        """    for n in range(N):
        r = 0.0
        for j in range(D):
            c = coef[j] * (dout[n, j] - xn[n, j] * mean_g[j])
            dx[n, j] = c
            r += c
        for j in range(D):
            dx[n, j] -= r / D""")]),
    # batch-norm backward: sum_n xn * dxhat (dgamma's sum, the dstd/dvar term) taken over the
    # features of each sample instead of over the batch
    "bn_dxhat_axis": ("kernels/batchnorm.py", [(
        """    for n in range(N):
        for j in range(D):
            c = coef[j] * (dout[n, j] - xn[n, j] * mean_g[j])""",
        """    for n in range(N):
        rs = 0.0
        for j in range(D):
            rs += np.float64(xn[n, j]) * dout[n, j]
        for j in range(D):
            c = coef[j] * (dout[n, j] - xn[n, j] * rs / D)""")]),
    # dropout backward passes dout through everywhere
    "dropout_unmasked": ("kernels/dropout.py", [(
        """        dx[i] = dout[i] if mask[i] else zero""", """        dx[i] = dout[i]""")]),
    # running variance from the unbiased batch variance (N / (N - 1)) instead of the biased one the
    # book keeps (np.mean(xc ** 2)); the batch size reaches the update through a module-level list,
    # which works because the kernels run as plain Python here
    "runvar_unbiased": ("kernels/batchnorm.py", [(
        """    for j in range(running_mean.size):
        running_mean[j] = m * running_mean[j] + r * mu[j]
        running_var[j] = m * running_var[j] + r * var[j]""",
        """    N = BATCH[0]
    for j in range(running_mean.size):
        running_mean[j] = m * running_mean[j] + r * mu[j]
        running_var[j] = m * running_var[j] + r * var[j] * N / (N - 1)"""),
        ("""    N, D = x.shape
    acc = np.zeros(D)""", """    N, D = x.shape
    BATCH[0] = N
    acc = np.zeros(D)"""),
        ("""EPS = 1e-6""", """EPS = 1e-6
BATCH = [2]""")]),
    # running statistics with the momentum inverted
    "runstat_momentum_inverted": ("kernels/batchnorm.py", [(
        """    m = running_mean.dtype.type(momentum)
    r = running_mean.dtype.type(1.0 - momentum)""",
        """    r = running_mean.dtype.type(momentum)
    m = running_mean.dtype.type(1.0 - momentum)""")]),
    # the fused step adds lam * W to dW twice
    "wd_twice": ("kernels/train.py", [(
        """            for i in range(gf.size):
                gf[i] += lam_t * wf[i]""",
        """            for i in range(gf.size):
                gf[i] += lam_t * wf[i]
                gf[i] += lam_t * wf[i]""")]),
    # the first Affine's db: the sum of (y - t) over the batch, not divided by N
    "db1_not_over_n": ("kernels/train.py", [(
        """        for j in range(N):
            g = dout[j]
            for h in range(n_out):
                gb[h] += g[h]""",
        """        scale = theta.dtype.type(N if k == 0 else 1)
        for j in range(N):
            g = dout[j]
            for h in range(n_out):
                gb[h] += g[h] * scale""")]),
    # the same in the two-layer fused kernel
    "db1_not_over_n_twolayer": ("kernels/fused.py", [(
        """        b1[h] -= lr * g""", """        b1[h] -= lr * g * n""")]),
}

_REGUL = ["tests/test_regul_kernels.py", "tests/test_regul_layers.py", "tests/test_regul_graph.py", "tests/test_extend.py"]
_FUSED_ANY = ["tests/test_fused_any.py", "-k", "not generic_kernel and not blas_threads"]
#: bug -> the tests run against it (not stopped at the first failure: all of them are counted)
TESTS = {"bn_dmu_axis": _REGUL, "bn_dxhat_axis": _REGUL, "dropout_unmasked": _REGUL, "runvar_unbiased": _REGUL,
         "runstat_momentum_inverted": _REGUL, "wd_twice": _FUSED_ANY, "db1_not_over_n": _FUSED_ANY,
         "db1_not_over_n_twolayer": ["tests/test_training_reference.py"]}


def plant(name):
    """Run TESTS[name] against the tree with PLANTS[name]; returns (summary line, failed test ids)."""
    path, edits = PLANTS[name]
    dst = OUT / f"planted-{name}-{os.getpid()}"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    try:
        for d in ("kernels", "fastnn", "tests"):
            shutil.copytree(ROOT / d, dst / d, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", dst)
        src = (dst / path).read_text()
        for old, new in edits:
            if src.count(old) != 1:
                raise SystemExit(f"{name}: the code to change is no longer in {path} (update PLANTS)")
            src = src.replace(old, new)
        (dst / path).write_text(src)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", NUMBA_DISABLE_JIT="1",
                   NUMBA_CACHE_DIR=str(dst / "numba-cache"))
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-profile=ci",
                            "-m", "not slow", *TESTS[name]], cwd=dst, env=env, capture_output=True, text=True)
        failed = sorted(set(re.findall(r"^FAILED (\S+)", r.stdout, re.M)))
        lines = r.stdout.strip().splitlines()
        return (lines[-1] if lines else r.stderr.strip()[-200:]), failed
    finally:
        shutil.rmtree(dst, ignore_errors=True)


def main(argv=None):
    names = list(argv if argv is not None else sys.argv[1:]) or list(PLANTS)
    unknown = [n for n in names if n not in PLANTS]
    if unknown:
        raise SystemExit(f"unknown bugs {unknown}; choose from {list(PLANTS)}")
    caught = True
    for name in names:
        summary, failed = plant(name)
        files = sorted({f.split("::")[0] for f in failed})
        print(f"{name}: {len(failed)} tests fail ({summary}); in {', '.join(files) or 'no file'}", flush=True)
        caught &= bool(failed)
    if not caught:
        raise SystemExit("a planted bug failed no test")


if __name__ == "__main__":
    main()
