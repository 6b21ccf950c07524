"""``fastnn experiment NAME``: one of the book's chapter-6 experiments, its figure, its curves
and a summary table."""
import argparse
import sys


def _integer_at_least(low):
    """An argparse type: an integer >= low, else one line saying so."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {v}")
        return v
    return parse


_seeds = _integer_at_least(1)
_first_seed = _integer_at_least(0)


def register(sub):
    from ..datasets import DATASETS
    from ..experiments import NAMES
    p = sub.add_parser(
        "experiment", help="run one of the book's chapter-6 experiments (" + ", ".join(NAMES) + ")",
        description="Run one of the book's chapter-6 experiments in its setting (network sizes, data "
                    "sizes, iterations and learning rates of its ch06 script); write NAME.png (the "
                    "book's figure) and NAME.csv (every curve) and print a summary table.")
    p.add_argument("name", metavar="NAME", choices=NAMES,
                   help="the experiment: " + ", ".join(NAMES))
    p.add_argument("--seeds", type=_seeds, default=1, metavar="N",
                   help="repeat with N seeds and draw the spread (default 1)")
    p.add_argument("--seed", type=_first_seed, default=0, metavar="S",
                   help="the first seed; the runs use S, S+1, ... (default 0)")
    p.add_argument("--out", default=".", metavar="DIR",
                   help="directory for NAME.png and NAME.csv (default: the current directory)")
    p.add_argument("--dataset", choices=DATASETS, default="mnist-sample",
                   help="data for the training experiments (default mnist-sample, bundled)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="floating-point type of the networks (default float32)")
    p.add_argument("--quiet", action="store_true", help="print the table only")
    p.set_defaults(func=run)


def run(args):
    from ..experiments import experiment
    from ..experiments import run as run_experiment
    mod = experiment(args.name)
    say = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = run_experiment(args.name, seeds=args.seeds, seed=args.seed, out=args.out,
                            dataset=args.dataset, dtype=args.dtype, progress=say)
    seeds = f"seeds {args.seed}..{args.seed + args.seeds - 1}" if args.seeds > 1 else f"seed {args.seed}"
    print(f"{args.name}: {mod.TITLE} (the book's {mod.BOOK})")
    print(f"setting: {mod.SETTING}")
    print(f"data: {result.dataset}; {args.dtype}; {seeds}; {result.seconds:.1f} s")
    print(result.table)
    print(f"wrote {result.png} and {result.csv}")
    return 0
