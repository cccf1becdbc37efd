"""``einsum``: Einstein summation written with permute, reshape, sum, indexing and batched
matmul, so its gradient is those ops' gradients (no backward of its own).

>>> import tapegrad as tg
>>> a, b = tg.tensor([[1., 2.], [3., 4.]]), tg.tensor([[5., 6.], [7., 8.]])
>>> tg.einsum("ij,jk->ik", a, b).tolist(), tg.einsum("ii", a).item()
([[19.0, 22.0], [43.0, 50.0]], 5.0)
"""

from __future__ import annotations

from typing import Any

from . import _core

Tensor = _core.Tensor

# Labels are small ints: 0..51 for the letters (A-Z, then a-z, the order of an implicit
# output), 52 + j for the j-th dim of the broadcast ellipsis (counted from its left).
_ELLIPSIS = 52


def _tensor_like(x: Any) -> bool:
    """A Tensor, or the batched tensor a ``vmap``-ed function sees (which has the same ops)."""
    return isinstance(x, Tensor) or type(x).__name__ == "BatchedTensor"


def _letter(c: str, equation: str) -> int:
    if "A" <= c <= "Z":
        return ord(c) - ord("A")
    if "a" <= c <= "z":
        return 26 + ord(c) - ord("a")
    raise RuntimeError(f"einsum(): invalid subscript given in the equation {equation!r}: {c!r} "
                       "(subscripts are letters in [a-zA-Z])")


def _parse_term(term: str, equation: str) -> list[int | None]:
    """Letters as labels, ``None`` where the ellipsis stands."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise RuntimeError(f"einsum(): found more than one ellipsis or a stray '.' in the "
                           f"equation {equation!r}")
    out: list[int | None] = []
    for k, part in enumerate(term.split("...")):
        if k:
            out.append(None)
        out += [_letter(c, equation) for c in part]
    return out


def _diagonal(x: Tensor, labels: list[int], equation: str) -> tuple[Tensor, list[int]]:
    """Take the diagonal over every label an operand repeats ('ii->i', 'iij->ij')."""
    while len(set(labels)) < len(labels):
        lab = next(lab for lab in labels if labels.count(lab) > 1)
        p = labels.index(lab)
        q = labels.index(lab, p + 1)
        n = x.shape[p]
        if x.shape[q] != n:
            raise RuntimeError(f"einsum(): subscript {_name(lab)} is repeated for operand "
                               f"dimensions of sizes {n} and {x.shape[q]} in {equation!r}")
        rest = [d for d in range(x.dim()) if d not in (p, q)]
        ar = _core.arange(n)
        x = x.permute(p, q, *rest)[ar, ar]
        labels = [lab] + [labels[d] for d in rest]
    return x, labels


def _name(label: int) -> str:
    if label < 26:
        return chr(ord("A") + label)
    if label < _ELLIPSIS:
        return chr(ord("a") + label - 26)
    return "..."


def _sum_out(x: Tensor, labels: list[int], keep: set[int]) -> tuple[Tensor, list[int]]:
    dims = [d for d, lab in enumerate(labels) if lab not in keep]
    if not dims:
        return x, labels
    return x.sum(dim=tuple(dims)), [lab for lab in labels if lab in keep]


def _contract(a: Tensor, la: list[int], b: Tensor, lb: list[int], keep: set[int],
              sizes: dict[int, int]) -> tuple[Tensor, list[int]]:
    """a·b over their shared labels that are not kept, batched over those that are: one
    (B, M, K) @ (B, K, N) product."""
    batch = [lab for lab in la if lab in lb and lab in keep]
    contracted = [lab for lab in la if lab in lb and lab not in keep]
    left = [lab for lab in la if lab not in lb]
    right = [lab for lab in lb if lab not in la]

    def prod(labels: list[int]) -> int:
        p = 1
        for lab in labels:
            p *= sizes[lab]
        return p

    pa = a.permute(*[la.index(lab) for lab in batch + left + contracted]) if la else a
    pb = b.permute(*[lb.index(lab) for lab in batch + contracted + right]) if lb else b
    B, M, K, N = prod(batch), prod(left), prod(contracted), prod(right)
    out = pa.reshape(B, M, K) @ pb.reshape(B, K, N)
    return out.reshape(*[sizes[lab] for lab in batch + left + right]), batch + left + right


def einsum(*args: Any) -> Tensor:
    """``einsum(equation, *operands)``: sums of products of the operands' entries over the
    subscripts the output leaves out (NumPy's and PyTorch's notation: ``'ij,jk->ik'`` is a
    matrix product, ``'bij,bjk->bik'`` a batched one, ``'ii->'`` a trace, ``'ii->i'`` a
    diagonal, ``'i,j->ij'`` an outer product, ``'...ij->...ji'`` a transpose of the last two
    dims). Without ``->`` the output holds the subscripts that appear once, in alphabetical
    order (upper case first). The operands may also come as one list. Operands are
    contracted left to right, each step one batched matrix product, so gradients (and
    gradients of gradients) come from those ops.

    >>> import tapegrad as tg
    >>> x, y = tg.tensor([1., 2.]), tg.tensor([3., 4., 5.])
    >>> tg.einsum("i,j->ij", x, y).tolist()
    [[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]]
    >>> tg.einsum("bn,anm,bm->ba", tg.ones(1, 2), tg.ones(3, 2, 2), tg.ones(1, 2)).tolist()
    [[4.0, 4.0, 4.0]]
    """
    if not args:
        raise TypeError("einsum(): missing the equation")
    equation, operands = args[0], list(args[1:])
    if not isinstance(equation, str):
        raise NotImplementedError("einsum(): the sublist format (operand, [subscripts], ...) is "
                                  "not supported by tapegrad; pass an equation string")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    for i, x in enumerate(operands):
        if not _tensor_like(x):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(x).__name__}")
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise RuntimeError(f"einsum(): more than one '->' in the equation {equation!r}")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): the equation {equation!r} has {len(terms)} operand "
                           f"term(s) but {len(operands)} operand(s) were given")

    # Expand the ellipsis into labels of its own, aligned from the right (broadcast).
    parsed = [_parse_term(t, equation) for t in terms]
    ell = 0
    for x, labels in zip(operands, parsed):
        named = sum(lab is not None for lab in labels)
        if (x.dim() != named) if None not in labels else (x.dim() < named):
            raise RuntimeError(
                f"einsum(): the term {terms[parsed.index(labels)]!r} of {equation!r} has "
                f"{named} subscript(s) for an operand of {x.dim()} dims (shape "
                f"{list(x.shape)})")
        if None in labels:
            ell = max(ell, x.dim() - named)
    labelled: list[list[int]] = []
    for x, labels in zip(operands, parsed):
        n_ell = x.dim() - sum(lab is not None for lab in labels)
        full: list[int] = []
        for lab in labels:
            full += [_ELLIPSIS + ell - n_ell + j for j in range(n_ell)] if lab is None else [lab]
        labelled.append(full)
    ell_labels = [_ELLIPSIS + j for j in range(ell)]

    if arrow:
        out_parsed = _parse_term(rhs, equation)
        out: list[int] = []
        for lab in out_parsed:
            out += ell_labels if lab is None else [lab]
        if len(set(out)) != len(out):
            raise RuntimeError(f"einsum(): an output subscript appears more than once in "
                               f"{equation!r}")
        seen = {lab for labels in labelled for lab in labels}
        for lab in out:
            if lab not in seen and lab < _ELLIPSIS:
                raise RuntimeError(f"einsum(): the output subscript {_name(lab)} does not "
                                   f"appear in the inputs of {equation!r}")
        out = [lab for lab in out if lab in seen]
    else:
        counts: dict[int, int] = {}
        for labels in labelled:
            for lab in labels:
                counts[lab] = counts.get(lab, 0) + 1
        out = [lab for lab in ell_labels if lab in counts] + sorted(
            lab for lab, c in counts.items() if c == 1 and lab < _ELLIPSIS)

    # Diagonals, then sizes (a size-1 dim broadcasts against the others, as in PyTorch).
    xs: list[Tensor] = []
    for i, (x, labels) in enumerate(zip(operands, labelled)):
        x, labels = _diagonal(x, labels, equation)
        xs.append(x)
        labelled[i] = labels
    sizes: dict[int, int] = {}
    for x, labels in zip(xs, labelled):
        for d, lab in enumerate(labels):
            n = x.shape[d]
            if sizes.get(lab, 1) != 1 and n not in (1, sizes[lab]):
                raise RuntimeError(f"einsum(): subscript {_name(lab)} has size {n} for an "
                                   f"operand of shape {list(x.shape)}, which does not match "
                                   f"the size {sizes[lab]} it has elsewhere in {equation!r}")
            if n != 1 or lab not in sizes:
                sizes[lab] = n
    for i, (x, labels) in enumerate(zip(xs, labelled)):
        want = [sizes[lab] for lab in labels]
        if list(x.shape) != want:
            xs[i] = x.expand(*want)

    # Left to right: sum out what no later term or the output needs, then contract.
    def needed(after: int) -> set[int]:
        keep = set(out)
        for labels in labelled[after:]:
            keep.update(labels)
        return keep

    acc, la = _sum_out(xs[0], labelled[0], needed(1))
    for i in range(1, len(xs)):
        keep = needed(i + 1)
        b, lb = _sum_out(xs[i], labelled[i], keep | set(la))
        acc, la = _contract(acc, la, b, lb, keep, sizes)
    acc, la = _sum_out(acc, la, set(out))
    if la != out:
        acc = acc.permute(*[la.index(lab) for lab in out])
    return acc
