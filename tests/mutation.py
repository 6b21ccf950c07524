"""Mutation testing of kernels/ and the core of fastnn/ with cosmic-ray (``make mutation``).

    python -m tests.mutation [--retest] [MODULE ...]   # default: every module in MODULES

``--report [--survivors]`` prints the scores (and the surviving mutants' diffs).
``--retest`` runs the surviving mutants of finished sessions again (after new tests).
For the largest modules (SAMPLE) a seeded random sample of mutants is run (the rest
are marked skipped, "not sampled"): all of them would take about ten hours on two
cores.  Raising a module's SAMPLE adds mutants to its session (drawn with seed 1 from
those not yet sampled) and keeps the ones already run.

Each module is mutated in a private copy of the source tree (mutation/src-PID), so the
working tree is never touched, with one cosmic-ray session per module
(mutation/<name>.sqlite; an interrupted run continues where it stopped).  Every
mutant runs that module's targeted tests with NUMBA_DISABLE_JIT=1: numba caches
compiled code and inlines callees across files, so with the JIT on a mutant could
be tested against stale machine code; with it off the kernels run as Python.
Operators that only produce type errors or near-duplicates are filtered out
(EXCLUDE).  Prints the score of each module; surviving mutants are listed by
``cr-report mutation/<name>.sqlite --show-output`` and discussed in tests/MUTANTS.md.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "mutation"
SRC = OUT / f"src-{os.getpid()}"      # one copy per runner: two runners may share OUT

_PYTEST = "env NUMBA_DISABLE_JIT=1 {python} -m pytest -x -q -p no:cacheprovider --hypothesis-profile=ci"
_VALUES = "tests/test_reference_values.py tests/test_edge_values.py"

#: tests of test_fused.py and test_numgrad_kernels.py on small data (the others take
#: minutes each with the JIT off)
_FUSED_SMALL = " ".join(f"tests/test_fused.py::{t}" for t in (
    "test_to_csr_round_trip", "test_non_finite_input_rejected_without_update", "test_bad_arguments",
    "test_run_checks_its_range"))
_NUMGRAD = (f"{_VALUES} " + " ".join(f"tests/test_numgrad_kernels.py::{t}" for t in (
    "test_full_matches_book_loop_small_net", "test_relu_kink_and_large_inputs_fall_back_exactly",
    "test_bad_arguments")) + " -k 'numerical or incremental or book_loop or kink or bad_arguments or keyword or large or scores or defaults or boundary'")

#: tests of test_fused_any.py without the two that train MNIST-sized nets (a minute with the JIT off)
_FUSED_ANY = "tests/test_fused_any.py -k 'not generic_kernel and not blas_threads'"
#: chapter 6's dropout and batch normalization: kernels, layers, tables, MultiLayerNetExtend
_REGUL = "tests/test_regul_kernels.py tests/test_regul_layers.py tests/test_regul_graph.py tests/test_extend.py"
#: numerical gradients of the description on small nets (the MNIST-sized ones take minutes each)
_GRAPH_NUMGRAD = ("tests/test_numerical_graph.py tests/test_graph_numgrad_kernels.py -k 'book_loop or backprop or kinks or series_terms or long_double or random_shapes "
                  "or bad_arguments or fastest'")

#: module -> the tests that exercise it (fast with the JIT off), in priority order.
MODULES = {
    "fastnn/optimizers.py": "tests/test_optimizers.py tests/test_edge_values.py tests/test_errors.py",
    "kernels/optimizers.py": "tests/test_optimizers.py",
    "fastnn/functions.py": f"{_VALUES} tests/test_kernels.py tests/test_errors.py",
    "fastnn/layers.py": f"{_VALUES} tests/test_layers.py tests/test_errors.py",
    "fastnn/network.py": f"{_VALUES} tests/test_layers.py tests/test_errors.py tests/test_twolayer_compat.py "
                         "tests/test_model.py::test_architecture_round_trip "
                         "tests/test_model.py::test_from_architecture_refuses_unknown_classes_and_altered_operations",
    "fastnn/model.py": "tests/test_model.py tests/test_twolayer_compat.py tests/test_errors.py",
    "kernels/activations.py": f"{_VALUES} tests/test_kernels.py",
    "kernels/softmax.py": f"{_VALUES} tests/test_kernels.py",
    "kernels/losses.py": f"{_VALUES} tests/test_kernels.py",
    "kernels/affine.py": f"{_VALUES} tests/test_kernels.py",
    "kernels/checks.py": "tests/test_check_kernels.py tests/test_edge_values.py tests/test_errors.py",
    "kernels/sparse.py": f"tests/test_training_reference.py tests/test_edge_values.py {_FUSED_SMALL} tests/test_sparse_kernels.py "
                         "tests/test_fused_any.py::test_step_equals_layer_path",
    "kernels/numgrad.py": "tests/test_gradient.py tests/test_numgrad_kernels.py::test_parallel_equals_serial_bit_for_bit",
    "fastnn/numerical.py": _NUMGRAD,
    "fastnn/fused.py": f"tests/test_training_reference.py {_FUSED_SMALL} tests/test_train_kernels.py "
                       f"tests/test_errors.py::test_fused_sgd_lr_set_after_construction_is_checked_at_the_step {_FUSED_ANY}",
    "kernels/fused.py": "tests/test_training_reference.py tests/test_train_kernels.py::test_two_layer_kernel_step_on_small_data "
                        "tests/test_train_kernels.py::test_two_layer_kernel_evaluate_matches_reference",
    "kernels/twolayer_numgrad.py": _NUMGRAD,
    "fastnn/_checks.py": f"{_VALUES} tests/test_errors.py tests/test_layers.py",
    "kernels/train.py": f"tests/test_train_kernels.py {_FUSED_ANY}",
    "kernels/graph.py": f"{_REGUL} tests/test_fused_any.py tests/test_numerical_graph.py -k 'not generic_kernel and "
                        "not blas_threads and not incremental_on_two_layer and not digits and not float32_net and "
                        "not threads_do_not'",
    "kernels/batchnorm.py": _REGUL,
    "kernels/dropout.py": _REGUL,
    "kernels/graph_numgrad.py": _GRAPH_NUMGRAD,
    "fastnn/regularization.py": f"{_REGUL} tests/test_errors.py",
    "fastnn/extend.py": f"{_REGUL} tests/test_errors.py",
    "fastnn/datasets/idx.py": "tests/test_idx_checks.py tests/test_datasets.py -k 'idx or gzip or magic or dimension or truncated "
                              "or oversized or labels_out or missing_file or count_mismatch or 28x28 or header or bits or unreadable or four_bytes'",
}

#: module -> number of mutants run, drawn at random with a fixed seed (large modules).
SAMPLE = {"fastnn/optimizers.py": 120, "fastnn/model.py": 50, "kernels/fused.py": 25, "kernels/twolayer_numgrad.py": 60,
          "fastnn/datasets/idx.py": 80, "fastnn/_checks.py": 25, "kernels/train.py": 50, "kernels/graph.py": 50,
          "kernels/graph_numgrad.py": 30, "kernels/batchnorm.py": 30, "kernels/dropout.py": 20,
          "fastnn/regularization.py": 25, "fastnn/extend.py": 25, "fastnn/layers.py": 25, "fastnn/fused.py": 25,
          "kernels/sparse.py": 25, "fastnn/network.py": 25}

#: Operator families left out: replacements by bitwise, shift, modulo, floor-division and
#: power operators (in this arithmetic they raise a TypeError or yield another float
#: formula that any value test rejects), identity comparisons, inverted and negated
#: unary operators, and the variable replacers (thousands of near-duplicates).
#: RemoveDecorator is left out because with the JIT off the decorator is the identity.
EXCLUDE = [
    r"core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift|Mod|FloorDiv|Pow)$",
    r"core/ReplaceBinaryOperator_(BitOr|BitAnd|BitXor|LShift|RShift|Mod)_",
    r"core/ReplaceComparisonOperator_.*(Is|IsNot)(_|$)",
    r"core/ReplaceUnaryOperator_.*(Invert|_Not$)",
    r"core/ReplaceUnaryOperator_UAdd_",
    r"core/Variable(Replacer|Inserter)",
    r"core/RemoveDecorator",
]


def _slug(module):
    return module.replace("/", "_").removesuffix(".py")


def _config(module, tests):
    cmd = _PYTEST.format(python=sys.executable) + " " + tests
    excl = ", ".join(f"'{e}'" for e in EXCLUDE)
    return (f"[cosmic-ray]\nmodule-path = \"{module}\"\ntimeout = 300.0\nexcluded-modules = []\n"
            f"test-command = \"{cmd}\"\n\n[cosmic-ray.distributor]\nname = \"local\"\n\n"
            f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [{excl}]\n")


def _copy_tree():
    """The sources and tests in SRC (fresh each run, removed at the end; the sessions
    stay in mutation/)."""
    if SRC.exists():
        shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    for name in ("kernels", "fastnn", "tests"):
        shutil.copytree(ROOT / name, SRC / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", SRC / "pyproject.toml")


def _tool(name):
    return str(Path(sys.executable).with_name(name))


def _sample(db, n, seed=0):
    """Mark all but n pending mutants (a seeded random choice) as skipped."""
    import random
    import sqlite3
    with sqlite3.connect(db) as con:
        pending = [r[0] for r in con.execute(
            "SELECT job_id FROM work_items WHERE job_id NOT IN (SELECT job_id FROM work_results) "
            "ORDER BY job_id")]
        keep = set(random.Random(seed).sample(pending, min(n, len(pending))))
        con.executemany("INSERT INTO work_results (worker_outcome, output, job_id) VALUES "
                        "('SKIPPED', 'not sampled', ?)", [(j,) for j in pending if j not in keep])


def _grow_sample(db, n, seed=1):
    """Un-skip a seeded random choice of "not sampled" mutants until n are sampled (a
    sample enlarged after its first run keeps the mutants it had)."""
    import random
    import sqlite3
    with sqlite3.connect(db) as con:
        skipped = [r[0] for r in con.execute(
            "SELECT job_id FROM work_results WHERE worker_outcome = 'SKIPPED' AND output = 'not sampled' "
            "ORDER BY job_id")]
        sampled = con.execute("SELECT count(*) FROM work_items WHERE job_id NOT IN "
                              "(SELECT job_id FROM work_results WHERE worker_outcome = 'SKIPPED')").fetchone()[0]
        more = n - sampled
        if more > 0:
            con.executemany("DELETE FROM work_results WHERE job_id = ?",
                            [(j,) for j in random.Random(seed).sample(skipped, min(more, len(skipped)))])


def _forget_survivors(db):
    import sqlite3
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")


def run(module, retest=False):
    tests = MODULES[module]
    slug = _slug(module)
    cfg, db = OUT / f"{slug}.toml", OUT / f"{slug}.sqlite"
    cfg.write_text(_config(module, tests))
    # a mutant's kernels never reach the real numba cache (with the JIT off nothing is
    # compiled; the folder is scratch for anyone who runs a mutant with it on)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", NUMBA_CACHE_DIR=str(SRC / "numba-cache"))
    if not db.exists():
        subprocess.run([_tool("cosmic-ray"), "init", str(cfg), str(db)], cwd=SRC, check=True, env=env)
        subprocess.run([_tool("cr-filter-operators"), str(db), str(cfg)], cwd=SRC, check=True, env=env)
        if module in SAMPLE:
            _sample(db, SAMPLE[module])
    else:
        if module in SAMPLE:
            _grow_sample(db, SAMPLE[module])
        if retest:
            _forget_survivors(db)
    subprocess.run([_tool("cosmic-ray"), "exec", str(cfg), str(db)], cwd=SRC, check=True, env=env)
    report = subprocess.run([_tool("cr-report"), str(db)], cwd=SRC, capture_output=True, text=True,
                            env=env).stdout
    summary = [ln for ln in report.splitlines() if ln.startswith(("total jobs", "complete", "surviving"))]
    print(f"{module}: " + "; ".join(summary), flush=True)
    return report


def scores(modules=None, survivors=False):
    """Print, per module with a session: mutants run, killed, survived, the score
    killed / run (timeouts count as killed), and with survivors=True each survivor's diff."""
    import sqlite3
    for module in modules or MODULES:
        db = OUT / f"{_slug(module)}.sqlite"
        if not db.exists():
            continue
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT r.test_outcome, r.worker_outcome, m.operator_name, m.start_pos_row, "
                               "r.diff FROM work_items w LEFT JOIN work_results r ON r.job_id = w.job_id "
                               "JOIN mutation_specs m ON m.job_id = w.job_id").fetchall()
        killed = sum(r[0] == "KILLED" for r in rows)
        survived = [r for r in rows if r[0] == "SURVIVED"]
        incompetent = sum(r[0] == "INCOMPETENT" for r in rows)
        pending = sum(r[1] is None for r in rows)
        run = killed + len(survived)
        score = f"{100 * killed / run:.1f} %" if run else "-"
        print(f"{module}: {run} run, {killed} killed, {len(survived)} survived, score {score}"
              f" ({incompetent} incompetent, {pending} pending)")
        if survivors:
            for r in sorted(survived, key=lambda r: r[3]):
                diff = [ln for ln in (r[4] or "").splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
                print(f"    line {r[3]} {r[2]}: {' / '.join(diff)}")


def main(argv=None):
    args = list(argv if argv is not None else sys.argv[1:])
    if "--report" in args:
        return scores([a for a in args if not a.startswith("--")], survivors="--survivors" in args)
    retest = "--retest" in args
    modules = [a for a in args if a != "--retest"] or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        raise SystemExit(f"unknown modules {unknown}; choose from {list(MODULES)}")
    OUT.mkdir(exist_ok=True)
    _copy_tree()
    try:
        for m in modules:
            run(m, retest)
    finally:
        shutil.rmtree(SRC, ignore_errors=True)
    scores(modules)


if __name__ == "__main__":
    main()
