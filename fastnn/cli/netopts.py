"""Network and optimizer options shared by the subcommands that build a network.

    add_network_options(parser)                  # --hidden --activation --weight-init --weight-decay
                                                 # --dropout --batchnorm
    add_optimizer_options(parser)                # --optimizer --lr --momentum --beta1 --beta2
    net = network_from_args(args, 784, 10, dtype="float32", seed=0)
    opt = optimizer_from_args(args)

Defaults are the book's training run (ch. 4): one hidden layer of 50 sigmoid units, weights
drawn with std 0.01, SGD with lr 0.1. A hidden list of one width builds the book's TwoLayerNet
(unless an initialisation by name asks for MultiLayerNet's); a longer one a MultiLayerNet;
--dropout or --batchnorm a MultiLayerNetExtend (the book's chapter 6). Without --lr each optimizer takes its own default (the book's: 0.01, Adam
0.001; SGD 0.1 as in the book's training run). Bad values stop argparse with one message
naming the option.

A new network option (dropout, batch normalization) is added here: its argument in
add_network_options, its default in NETWORK_DEFAULTS (``fastnn train`` records it with the run
and reads checkpoints without it as that default), its use in network_from_args; every
subcommand that builds a network then has it.
"""
import argparse
import inspect
import math

from . import positive

#: Hidden activations, initialisations by name and optimizers the options accept.
ACTIVATIONS = ("sigmoid", "relu")
WEIGHT_INITS = ("he", "relu", "xavier", "sigmoid")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
#: fastnn.optimizers class of each --optimizer name.
OPTIMIZER_CLASSES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov",
                     "adagrad": "AdaGrad", "rmsprop": "RMSprop", "adam": "Adam"}
#: Optimizer settings besides --lr, and the optimizers that take each.
HYPER_OPTIONS = {"momentum": ("momentum", "nesterov"), "beta1": ("adam",), "beta2": ("adam",)}
#: SGD's lr when --lr is not given: the book's training run (ch. 4), not the class default.
SGD_LR = 0.1
#: std of the weights of the two-layer net (TwoLayerNet's weight_init_std, the book's 0.01).
TWO_LAYER_INIT = 0.01

#: Network options with the values a run uses when they are not given (None: see
#: weight_init_of).
NETWORK_DEFAULTS = {"hidden": [50], "activation": "sigmoid", "weight_init": None,
                    "weight_decay": 0.0, "dropout": 0.0, "batchnorm": False}
#: The options that make the network a MultiLayerNetExtend.
REGULARIZATION = ("dropout", "batchnorm")
#: Optimizer options, likewise (None: the optimizer's own default).
OPTIMIZER_DEFAULTS = {"optimizer": "sgd", "lr": None, "momentum": None, "beta1": None,
                      "beta2": None}
#: Python argument names in the library's messages, and the options that set them.
OPTION_NAMES = {"hidden_size": "--hidden", "hidden_size_list": "--hidden",
                "activation": "--activation", "weight_init_std": "--weight-init",
                "weight_decay_lambda": "--weight-decay", "dropout_ratio": "--dropout",
                "lr": "--lr", "momentum": "--momentum",
                "beta1": "--beta1", "beta2": "--beta2"}


# -- argparse types ---------------------------------------------------------------
def parse_hidden(text):
    """'100,100,100' -> [100, 100, 100]: at least one width, each an integer > 0."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of hidden widths such as 100,100, got {text!r}")
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integer widths such as 100,100, got {text!r}") from None
    bad = [w for w in widths if w < 1]
    if bad:
        raise argparse.ArgumentTypeError(f"expected widths > 0, got {bad[0]} in {text!r}")
    return widths


def parse_weight_init(text):
    """An initialisation by name (he, relu, xavier, sigmoid) or a standard deviation > 0."""
    name = text.strip().lower()
    if name in WEIGHT_INITS:
        return name
    try:
        std = float(text)
    except ValueError:
        std = None
    if std is None or not (std > 0 and math.isfinite(std)):
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(WEIGHT_INITS)} or a standard deviation > 0, got {text!r}")
    return std


def parse_rate(text):
    """A decay rate (momentum, Adam's betas): a number in [0, 1)."""
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return v


def parse_decay(text):
    """The L2 weight decay lambda: a finite number >= 0."""
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def parse_dropout(text):
    """The dropout ratio: a number in [0, 1), 0 for no dropout."""
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not 0 <= v < 1:
        raise argparse.ArgumentTypeError(
            f"expected a dropout ratio in [0, 1) (0: no dropout), got {text!r}")
    return v


for _f, _name in ((parse_hidden, "hidden list"), (parse_weight_init, "weight init"),
                  (parse_rate, "rate"), (parse_decay, "weight decay"),
                  (parse_dropout, "dropout ratio")):
    _f.__name__ = _name     # argparse names the type in its messages


# -- the options ------------------------------------------------------------------
def _shown(defaults, key, text=None):
    value = defaults.get(key)
    if text is not None:
        return text
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def add_network_options(parser, defaults=None, *, fill=True, regularization=True):
    """Add the network options to ``parser`` (a parser or an argument group).

    defaults: values that differ from NETWORK_DEFAULTS for this command. fill: argparse
    fills in the defaults; False leaves unset options None (a command that tells given
    options from defaults, such as ``train --resume``, fills them itself).
    regularization: offer --dropout and --batchnorm (False: a command that cannot use
    them).
    Returns the argument group.
    """
    d = {**NETWORK_DEFAULTS, **(defaults or {})}
    keys = [k for k in NETWORK_DEFAULTS if regularization or k not in REGULARIZATION]
    g = parser.add_argument_group("network") if hasattr(parser, "add_argument_group") else parser
    g.add_argument("--hidden", type=parse_hidden, metavar="H[,H...]",
                   help=f"hidden layer widths, e.g. 100,100,100 ({_shown(d, 'hidden')}); one width "
                        "builds the book's two-layer network")
    g.add_argument("--activation", choices=ACTIVATIONS,
                   help=f"hidden activation ({d['activation']})")
    g.add_argument("--weight-init", type=parse_weight_init, metavar="INIT",
                   help="initial weights: he (= relu), xavier (= sigmoid) or a standard deviation "
                        f"(default: {TWO_LAYER_INIT} with one hidden layer, as in the book; else "
                        "he for relu, xavier for sigmoid)")
    g.add_argument("--weight-decay", type=parse_decay, metavar="LAMBDA",
                   help=f"L2 weight decay lambda, 0.5*lambda*sum(W**2) added to the loss "
                        f"({d['weight_decay']:g})")
    if regularization:
        g.add_argument("--dropout", type=parse_dropout, metavar="RATIO",
                       help="dropout after every hidden activation, dropping this fraction of "
                            "the units while training, in [0, 1) (0: none); builds the book's "
                            "MultiLayerNetExtend")
        g.add_argument("--batchnorm", action="store_true", default=None,
                       help="batch normalization after every hidden Affine (running mean and "
                            "variance for inference, momentum 0.9); builds MultiLayerNetExtend")
    if fill:
        parser.set_defaults(**{k: d[k] for k in keys})
    return g


def add_optimizer_options(parser, defaults=None, *, fill=True):
    """Add --optimizer --lr --momentum --beta1 --beta2 to ``parser``; see add_network_options."""
    d = {**OPTIMIZER_DEFAULTS, **(defaults or {})}
    g = parser.add_argument_group("optimizer") if hasattr(parser, "add_argument_group") else parser
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"update rule ({d['optimizer']})")
    g.add_argument("--lr", type=positive(float),
                   help=f"learning rate (default: the optimizer's; sgd {SGD_LR:g}, as in the "
                        "book's training run, adam 0.001, the others 0.01)")
    g.add_argument("--momentum", type=parse_rate,
                   help="momentum and nesterov: the velocity's decay in [0, 1) (0.9)")
    g.add_argument("--beta1", type=parse_rate, help="adam: decay of the first moment (0.9)")
    g.add_argument("--beta2", type=parse_rate, help="adam: decay of the second moment (0.999)")
    if fill:
        parser.set_defaults(**{k: d[k] for k in OPTIMIZER_DEFAULTS})
    return g


# -- building ----------------------------------------------------------------------
def weight_init_of(args):
    """The initialisation a run uses: --weight-init, else 0.01 for one hidden layer (the book's
    TwoLayerNet), he for a deeper relu net, xavier for a deeper sigmoid one."""
    if args.weight_init is not None:
        return args.weight_init
    if len(args.hidden) == 1:
        return TWO_LAYER_INIT
    return "he" if args.activation == "relu" else "xavier"


def is_extended(args):
    """Whether the options ask for dropout or batch normalization (MultiLayerNetExtend)."""
    return bool(getattr(args, "dropout", 0.0)) or bool(getattr(args, "batchnorm", False))


def is_two_layer(args):
    """Whether the options describe the book's TwoLayerNet: one hidden layer, weights drawn
    with a given std, no dropout or batch normalization."""
    return len(args.hidden) == 1 and not isinstance(weight_init_of(args), str) and \
        not is_extended(args)


def multilayer_class(args=None):
    """MultiLayerNet (MultiLayerNetExtend when ``args`` ask for dropout or batch
    normalization), or ValueError when this version of fastnn has none."""
    import fastnn
    if args is not None and is_extended(args):
        cls = getattr(fastnn, "MultiLayerNetExtend", None)
        if cls is None:
            raise ValueError("--dropout, --batchnorm: need MultiLayerNetExtend, which this "
                             "version of fastnn does not have")
        return cls
    cls = getattr(fastnn, "MultiLayerNet", None)
    if cls is None:
        raise ValueError("--hidden: a network other than the two-layer one needs MultiLayerNet, "
                         "which this version of fastnn does not have")
    return cls


def network_from_args(args, input_size, output_size, *, dtype, seed=None, rng=None):
    """The network the options describe: TwoLayerNet when is_two_layer(args), else a
    MultiLayerNet(input_size, hidden, output_size, ...), or with --dropout or --batchnorm a
    MultiLayerNetExtend (its dropout masks drawn from the generator that drew its weights)."""
    init = weight_init_of(args)
    if is_two_layer(args):
        from ..network import TwoLayerNet
        return TwoLayerNet(input_size, args.hidden[0], output_size, init,
                           activation=args.activation, dtype=dtype, seed=seed, rng=rng,
                           weight_decay_lambda=args.weight_decay)
    kwargs = {}
    if is_extended(args):
        dropout = getattr(args, "dropout", 0.0)
        kwargs = {"use_dropout": dropout > 0, "use_batchnorm": bool(getattr(args, "batchnorm", False))}
        if dropout > 0:
            kwargs["dropout_ratio"] = dropout
    return multilayer_class(args)(input_size, list(args.hidden), output_size,
                                  activation=args.activation, weight_init_std=init,
                                  weight_decay_lambda=args.weight_decay, dtype=dtype, seed=seed,
                                  rng=rng, **kwargs)


def optimizer_class(name):
    """The fastnn.optimizers class of an --optimizer name, or ValueError."""
    from .. import optimizers
    cls = getattr(optimizers, OPTIMIZER_CLASSES[name], None)
    if cls is None:
        raise ValueError(f"--optimizer {name}: this version of fastnn has no "
                         f"{OPTIMIZER_CLASSES[name]} optimizer")
    return cls


def default_lr(name):
    """The lr of --optimizer ``name`` without --lr: SGD_LR for sgd, else the class default."""
    if name == "sgd":
        return SGD_LR
    return float(inspect.signature(optimizer_class(name)).parameters["lr"].default)


def check_optimizer_args(args):
    """ValueError when a setting is given for an optimizer that does not take it."""
    for key, takers in HYPER_OPTIONS.items():
        if getattr(args, key, None) is not None and args.optimizer not in takers:
            raise ValueError(f"--{key}: applies to --optimizer {' or '.join(takers)}, "
                             f"not {args.optimizer}")


def optimizer_from_args(args):
    """The optimizer the options describe. ``args.lr`` None takes default_lr."""
    check_optimizer_args(args)
    cls = optimizer_class(args.optimizer)
    lr = args.lr if args.lr is not None else default_lr(args.optimizer)
    kwargs = {k: getattr(args, k) for k in HYPER_OPTIONS
              if getattr(args, k, None) is not None}
    return cls(lr, **kwargs)


def hyper_parameters(opt):
    """{name: value} of the optimizer's settings the options set (lr, momentum, betas)."""
    return {k: float(getattr(opt, k)) for k in ("lr",) + tuple(HYPER_OPTIONS)
            if isinstance(getattr(opt, k, None), (int, float))}


def describe_network(net, args):
    """'784-100-100-10 relu, weights he, weight decay 0.0001, float32'."""
    init = weight_init_of(args)
    text = f"{'-'.join(map(str, net.sizes))} {args.activation}, weights " + \
        (init if isinstance(init, str) else f"std {init:g}")
    if args.weight_decay:
        text += f", weight decay {args.weight_decay:g}"
    if getattr(args, "batchnorm", False):
        text += ", batch norm"
    if getattr(args, "dropout", 0.0):
        text += f", dropout {args.dropout:g}"
    return f"{text}, {net.dtype.name}"


def describe_optimizer(opt, lr_given):
    """'Adam lr 0.001 (the default), beta1 0.9, beta2 0.999'."""
    hp = hyper_parameters(opt)
    parts = [f"{type(opt).__name__} lr {hp.pop('lr'):g}" + ("" if lr_given else " (the default)")]
    parts += [f"{k} {v:g}" for k, v in hp.items()]
    return ", ".join(parts)
