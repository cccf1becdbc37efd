"""``python -m tapegrad`` / ``tapegrad``: run the lessons from the command line.

    tapegrad regression              # the seed's 8-point line fit, with plots
    tapegrad regression --compile    # the same, its training step replayed by tapegrad.compile
    tapegrad regression --save-step step.tgp  # ... and saved for a C++ training loop
    tapegrad linreg                  # d2l's synthetic linear regression from scratch
    tapegrad softmax                 # softmax regression on the embedded digits
    tapegrad softmax --dataset fashion-mnist --data-dir ~/data --download
    tapegrad mlp --dropout 0.5       # d2l's MLP with dropout (two hidden ReLU layers)
    tapegrad mlp --compile           # the same, each Linear → ReLU as one fused GEMM
    tapegrad cnn                     # LeNet-5 on the digits (--dataset fashion-mnist ...)
    mpiexec -n 2 tapegrad softmax --distributed   # data-parallel on 2 processes (tapegrad[mpi])
    tapegrad graph                   # the tape's DAG of y = m·x + b
    tapegrad backward [--broken]     # write the backward yourself (autograd.Function), gradcheck it
    tapegrad bench                   # µs per training step

Every command ends with one summary line; plots go to ``--out`` (default ./tapegrad-out).
Bad arguments, unknown datasets and missing files give a one-line error, not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

__all__ = ["main", "build_parser"]

_COMMANDS = {
    "regression": "fit y = m·x + b to the seed's 8 points by gradient descent (writes plots)",
    "linreg": "d2l §3.2: linear regression from scratch on synthetic data",
    "softmax": "softmax regression on digits (embedded) or Fashion-MNIST",
    "mlp": "d2l §5.6: an MLP with two hidden ReLU layers and dropout on the same data",
    "graph": "draw the tape's DAG of y = m·x + b (graph.png, graph.dot)",
    "bench": "µs per step: the 8-point regression step and a 256×784→10 softmax step, eager "
             "and compiled",
    # cnn lesson
    "cnn": "LeNet-5 (d2l §7.6) on digits (embedded, enlarged to 28×28) or Fashion-MNIST",
    # custom functions family
    "backward": "write the backward yourself: d2l linear regression as an autograd.Function "
                "and as formulas, gradcheck'ed, trained beside autodiff",
}


class _CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(name: str) -> Callable[[str], int]:
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {s!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be positive, got {v}")
        return v

    return parse


def _non_negative_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"epochs must be an integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"epochs must be >= 0, got {v}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"learning rate must be a number, got {s!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"learning rate must be a positive number, got {s}")
    return v


def _probability(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"dropout must be a number, got {s!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"dropout must be in [0, 1), got {s}")
    return v


# Which options each command reads: a command's parser accepts exactly these, so its --help
# lists only what it uses ("data" is --dataset/--data-dir/--download, "distributed" is
# --distributed/--checkpoint). _DEFAULTS: the defaults --help shows; softmax and mlp take theirs
# from the dataset.
_OPTIONS: dict[str, tuple[str, ...]] = {
    "regression": ("out", "epochs", "lr", "threads", "save_step"),
    "linreg": ("epochs", "lr", "batch_size", "seed", "threads"),
    "softmax": ("out", "epochs", "lr", "batch_size", "seed", "threads", "data", "distributed"),
    "mlp": ("out", "epochs", "lr", "batch_size", "seed", "threads", "data", "distributed",
            "dropout"),
    "graph": ("out",),
    "bench": ("threads",),
    # cnn lesson
    "cnn": ("out", "epochs", "lr", "batch_size", "seed", "threads", "data", "lenet"),
    "backward": ("epochs", "lr", "batch_size", "seed", "broken"),  # custom functions family
}
# tapegrad.compile: the lessons whose training step can be captured and replayed.
for _command in ("regression", "linreg", "softmax", "mlp"):
    _OPTIONS[_command] += ("compile",)
_DEFAULTS = {
    "regression": {"epochs": "1000", "lr": "0.01"},
    "linreg": {"epochs": "3", "lr": "0.03", "batch_size": "10"},
    "backward": {"epochs": "3", "lr": "0.03", "batch_size": "10"},
}


def _add_option(p: argparse.ArgumentParser, command: str, name: str) -> None:
    default = _DEFAULTS.get(command, {}).get(name, "the dataset's")
    if name == "out":
        p.add_argument("--out", metavar="DIR", default="tapegrad-out",
                       help="directory for plots (default: ./tapegrad-out)")
    elif name == "epochs":
        p.add_argument("--epochs", type=_non_negative_int, default=None,
                       help=f"training epochs (default: {default})")
    elif name == "lr":
        p.add_argument("--lr", type=_positive_float, default=None,
                       help=f"learning rate (default: {default})")
    elif name == "batch_size":
        p.add_argument("--batch-size", type=_positive_int("batch size"), default=None,
                       help=f"minibatch size (default: {default})")
    elif name == "seed":
        p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    elif name == "threads":
        p.add_argument("--threads", type=_positive_int("threads"), default=None,
                       help="threads for the C++ kernels (default: tapegrad's choice)")
    elif name == "data":
        p.add_argument("--dataset", default="digits", metavar="NAME",
                       help="digits (embedded, default) or fashion-mnist")
        p.add_argument("--data-dir", metavar="D", default=None,
                       help="directory with the Fashion-MNIST IDX files (default "
                            "~/.tapegrad/fashion-mnist, else /usr/share/datasets/fashion-mnist "
                            "where Debian's dataset-fashion-mnist package puts them)")
        p.add_argument("--download", action="store_true",
                       help="download missing Fashion-MNIST files (MD5-checked)")
    elif name == "distributed":
        p.add_argument("--distributed", action="store_true",
                       help="data-parallel training on every process started by mpiexec "
                            "(mpiexec -n 2 tapegrad softmax --distributed; needs "
                            "tapegrad[mpi]); --batch-size is the global batch; only rank 0 "
                            "prints and writes files")
        p.add_argument("--checkpoint", metavar="FILE", default=None,
                       help="save the trained model's state dict to FILE (tg.save, .npz)")
    elif name == "dropout":  # mlp lesson
        p.add_argument("--dropout", type=_probability, nargs="+", metavar="P", default=None,
                       help="dropout probability after each hidden layer: one P for both or "
                            "P1 P2 (default: d2l's 0.2 0.5; 0 removes the layer)")
    elif name == "lenet":  # cnn lesson
        p.add_argument("--activation", choices=("relu", "sigmoid"), default="relu",
                       help="LeNet's activation: relu (default; reaches 0.97 on the digits in 10 "
                            "epochs) or sigmoid (d2l's original, slow to start)")
        p.add_argument("--pool", choices=("avg", "max"), default="avg",
                       help="pooling layers: avg (d2l's AvgPool2d, default) or max")
    elif name == "compile":  # tapegrad.compile
        p.add_argument("--compile", action="store_true",
                       help="run the training step through tapegrad.compile: captured on its "
                            "first call, replayed in C++ after (same results to the bit)")
    elif name == "save_step":  # saved programs (regression)
        p.add_argument("--save-step", metavar="FILE", default=None,
                       help="after training, save the compiled training step with m and b to "
                            "FILE (implies --compile), for tapegrad.load_program or a C++ "
                            "training loop (docs/saved-programs.md)")
    elif name == "broken":  # custom functions family
        p.add_argument("--broken", action="store_true",
                       help="also gradcheck a learner's wrong backward and show what it reports")
    else:  # pragma: no cover - a typo in _OPTIONS
        raise AssertionError(name)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``tapegrad`` command: one subparser per command, each with
    only the options that command uses.

    >>> build_parser().parse_args(["linreg", "--epochs", "2"]).epochs
    2
    """
    parser = _Parser(prog="tapegrad", description="tapegrad's lessons, runnable.",
                     epilog="Run 'tapegrad COMMAND --help' for a command's options.")
    from tapegrad import __version__

    parser.add_argument("--version", action="version", version=f"tapegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, help_ in _COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        for option in _OPTIONS[name]:
            _add_option(p, name, option)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, but an option that belongs to another command gets a message that says so."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        flag = extra[0].split("=", 1)[0]
        subs = _subparsers(parser)
        known = {o for p in subs.values() for act in p._actions for o in act.option_strings}
        sub = subs[args.command]
        if flag in known:
            own = [a for act in sub._actions for a in act.option_strings
                   if a.startswith("--") and a != "--help"]
            sub.error(f"{flag} does not apply to this command (its options: "
                      f"{', '.join(own) or 'none'})")
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subparsers")


def _check_out(args: argparse.Namespace) -> None:
    """Fail before any training if ``--out`` cannot hold the plots. Nothing is created here
    (a command that fails later for another reason leaves no empty directory behind)."""
    out = getattr(args, "out", None)
    if out is None:
        return
    path = os.path.abspath(out)
    existing = path  # the nearest part of the path that exists: where makedirs would start
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        reason = f"{existing!r} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):  # also false on a read-only file system
        reason = f"{existing!r} is not writable"
    else:
        return
    raise _CliError(f"{args.command}: cannot write plots to --out {out!r}: {reason}")


def _cmd_regression(args: argparse.Namespace) -> str:
    from tapegrad.examples import regression

    epochs = 1000 if args.epochs is None else args.epochs
    lr = 0.01 if args.lr is None else args.lr
    r = regression.run(epochs=epochs, lr=lr, out=args.out, compile=args.compile,
                       save_step=args.save_step)
    return (f"regression: m = {r.m:.4f}, b = {r.b:.4f}, cost = {r.cost:.4f} after "
            f"{epochs + 1} updates; plots: {', '.join(os.path.basename(f) for f in r.files)} "
            f"in {args.out}")


def _cmd_linreg(args: argparse.Namespace) -> str:
    from tapegrad.examples import linreg

    r = linreg.run(epochs=3 if args.epochs is None else args.epochs,
                   lr=0.03 if args.lr is None else args.lr,
                   batch_size=10 if args.batch_size is None else args.batch_size, seed=args.seed,
                   compile=args.compile)
    err = max([abs(e) for e in r.w_error] + [abs(r.b_error)])
    loss = f"{r.losses[-1]:.6f}" if r.losses else "n/a"
    return (f"linreg: w = [{r.w[0]:.4f}, {r.w[1]:.4f}], b = {r.b:.4f} (max error {err:.1e}), "
            f"loss {loss}")


def _check_dataset(args: argparse.Namespace) -> None:
    from tapegrad.examples import softmax

    if args.dataset not in softmax.DATASETS:
        raise _CliError(f"{args.command}: unknown dataset {args.dataset!r} (choose from: "
                        f"{', '.join(softmax.DATASETS)})")
    if args.dataset == "digits" and (args.download or args.data_dir is not None):
        raise _CliError(f"{args.command}: --data-dir/--download are for fashion-mnist; the "
                        "digits are embedded in tapegrad")


def _cmd_classifier(args: argparse.Namespace) -> str:
    import functools

    from tapegrad.examples import mlp, softmax

    _check_dataset(args)
    run = (functools.partial(mlp.run, dropout=args.dropout) if args.command == "mlp"
           else functools.partial(softmax.run, args.command))
    if getattr(args, "compile", False):  # tapegrad.compile
        if args.distributed:
            raise _CliError(f"{args.command}: --compile does not apply with --distributed (the "
                            "gradients' all-reduce runs in Python hooks a replay would skip)")
        run = functools.partial(run, compile=True)
    if not args.distributed:
        r = run(args.dataset, data_dir=args.data_dir, download=args.download,
                epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                out=args.out, progress=True, checkpoint=args.checkpoint)
        return _classifier_summary(args, r.history)
    import tapegrad as tg
    import tapegrad.distributed as dist

    dist.init_process_group("mpi")
    if args.threads is not None:  # init_process_group shares the cores out; the flag wins
        tg.set_num_threads(args.threads)
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        r = run(args.dataset, data_dir=args.data_dir, download=args.download,
                epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                out=args.out, progress=True, distributed=True, checkpoint=args.checkpoint)
    except Exception as exc:
        if world > 1:  # the other ranks may be waiting in a collective: stop them all
            print(f"tapegrad {args.command}: error on rank {rank} of {world}: {exc}",
                  file=sys.stderr, flush=True)
            dist._abort(1)
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank != 0:
        return ""
    return _classifier_summary(args, r.history) + f" ({world} process{'es' if world > 1 else ''})"


def _classifier_summary(args: argparse.Namespace, h: dict[str, list[float]]) -> str:
    if not h["loss"]:
        return f"{args.command} {args.dataset}: 0 epochs, nothing trained"
    return (f"{args.command} {args.dataset}: test acc {h['test acc'][-1]:.4f}, train acc "
            f"{h['train acc'][-1]:.4f}, loss {h['loss'][-1]:.4f} after {len(h['loss'])} epochs; "
            f"plots in {args.out}")


def _cmd_cnn(args: argparse.Namespace) -> str:
    from tapegrad.examples import cnn

    _check_dataset(args)
    r = cnn.run(args.dataset, data_dir=args.data_dir, download=args.download,
                epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                activation=args.activation, pool=args.pool, seed=args.seed, out=args.out,
                progress=True)
    return _classifier_summary(args, r.history)


def _cmd_graph(args: argparse.Namespace) -> str:
    from tapegrad.examples import graph

    g = graph.run(out=args.out)
    n_ops = sum(n.kind == "op" for n in g.nodes)
    return f"graph: {len(g.nodes)} nodes ({n_ops} ops); wrote graph.png and graph.dot in {args.out}"


def _cmd_bench(args: argparse.Namespace) -> str:
    from tapegrad.examples import bench

    import tapegrad as tg

    r = bench.run()
    return (f"bench: regression {r['regression_step_us']:.2f} µs/step "
            f"({r['regression_compiled_step_us']:.2f} compiled), softmax "
            f"{r['softmax_step_us']:.1f} µs/step ({r['softmax_compiled_step_us']:.1f} compiled) "
            f"on {tg.get_num_threads()} thread(s)")


# custom functions family
def _cmd_backward(args: argparse.Namespace) -> str:
    from tapegrad.examples import backward

    r = backward.run(epochs=3 if args.epochs is None else args.epochs,
                     lr=0.03 if args.lr is None else args.lr,
                     batch_size=10 if args.batch_size is None else args.batch_size,
                     seed=args.seed, broken=args.broken)
    w1, w2, b = r.function[-1] if r.function else (float("nan"),) * 3
    caught = "; gradcheck caught the broken backward" if r.broken_message else ""
    return (f"backward: gradchecks passed; autodiff, Function and formulas agree to "
            f"{r.max_difference:.1e} (w = [{w1:.4f}, {w2:.4f}], b = {b:.4f}){caught}")


_HANDLERS: dict[str, Callable[[argparse.Namespace], str]] = {
    "regression": _cmd_regression,
    "linreg": _cmd_linreg,
    "softmax": _cmd_classifier,
    "mlp": _cmd_classifier,
    "graph": _cmd_graph,
    "bench": _cmd_bench,
    "cnn": _cmd_cnn,  # cnn lesson
    "backward": _cmd_backward,  # custom functions family
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tapegrad`` and ``python -m tapegrad``; returns the exit status.

    >>> main(["graph", "--epochs", "3"])
    2
    """
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        import tapegrad as tg

        _check_out(args)
        if getattr(args, "threads", None) is not None:
            tg.set_num_threads(args.threads)
        t0 = time.perf_counter()
        summary = _HANDLERS[args.command](args)
        if summary:  # empty on the ranks > 0 of a --distributed run
            print(f"{summary} [{time.perf_counter() - t0:.1f} s]", flush=True)
        return 0
    except BrokenPipeError:
        # The reader went away (`tapegrad graph | head -1`): stop quietly, as `cat` does. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # stdout is not a file descriptor (captured, embedded)
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a writer stopped by a closed pipe
    except _CliError as exc:
        print(f"tapegrad: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"tapegrad {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tapegrad: interrupted", file=sys.stderr)
        return 130
