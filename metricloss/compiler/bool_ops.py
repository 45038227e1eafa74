"""Bool tensors in the modules that evaluate ``g``: converted through their bytes, counted in int32.

``g`` turns its comparisons into numbers the way metrics are written: ``(pred == y).float()``,
``b.double()``, ``b.to(torch.float32)``, ``b.sum(1)``, ``torch.count_nonzero(b)``. On the CPU,
torch converts a bool tensor to a number type an element at a time, about ten times slower than
it converts the same bytes read as ``uint8`` (a bool is one byte holding 0 or 1; strided bytes
convert slowly too, so a block cut from a row of configurations is made contiguous first, which
copies bytes, not floats); and it sums bools by widening each to int64, up to twenty times slower
than a sum accumulated in int32 (a [2048, 2048] block's row sums: 17 ms against 0.8 ms).

The modules that only compute values get each such call replaced by ``cast`` or ``count``, which
give the same tensor (values, dtype, a new tensor) for a bool operand and call the method as
written for anything else. ``g``'s own graph, which the row split, the affine statistics, the
exact evaluator and ``explain`` read, keeps the user's spelling.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from .ops import table

# Method -> the dtype it gives, for the casts named by their dtype.
_NAMED = {"float": torch.float32, "double": torch.float64, "half": torch.float16, "bfloat16": torch.bfloat16,
          "long": torch.int64, "int": torch.int32, "short": torch.int16, "byte": torch.uint8, "char": torch.int8}
# The casts of the op table that name a dtype (``to`` and ``type`` may name a device instead).
_CASTS = table.spellings("float_cast", "narrow_float_cast", "integer_cast", "cast_like") & \
    (set(_NAMED) | {"to", "type", "type_as"})
_COUNTS = table.spellings("sum", "count_nonzero")
_INT32_LIMIT = 1 << 31


def cast(values, method: str, *args, **kwargs):
    """``values.<method>(*args, **kwargs)``, through the bytes when ``values`` is a bool tensor
    and the call only changes its dtype to a number type."""
    dtype = _target_dtype(values, method, args, kwargs)
    if dtype is None:
        return getattr(values, method)(*args, **kwargs)
    converted = as_numbers(values, dtype)
    return converted.clone() if dtype == torch.uint8 else converted  # a cast gives a new tensor


def count(reduction: str, values, *args, **kwargs):
    """``torch.<reduction>(values, *args, **kwargs)``, ``reduction`` "sum" or "count_nonzero": for
    a bool tensor and no dtype asked for, accumulated in int32 and given as the int64 torch
    returns; exact below 2^31 elements."""
    if isinstance(values, torch.Tensor) and values.dtype == torch.bool and "dtype" not in kwargs \
            and values.numel() < _INT32_LIMIT:
        if reduction == "count_nonzero":
            if set(kwargs) <= {"dim"} and len(args) <= 1:
                dim = args[0] if args else kwargs.get("dim")
                counted = values.sum(dtype=torch.int32) if dim is None else values.sum(dim, dtype=torch.int32)
                return counted.long()
        elif len(args) <= 2 and set(kwargs) <= {"dim", "keepdim"}:
            return values.sum(*args, dtype=torch.int32, **kwargs).long()
    return getattr(torch, reduction)(values, *args, **kwargs)


def as_numbers(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``bits.to(dtype)`` for a bool tensor, through its contiguous bytes (also the loss's own
    casts of configurations to weights and signs); any other tensor as ``.to`` does it."""
    if bits.dtype != torch.bool or dtype == torch.bool:
        return bits.to(dtype)
    return bits.contiguous().view(torch.uint8).to(dtype)


# Rows of bools at least this long, in tensors at least this large, are counted a word at a time
# (``true_counts``): shorter rows need a padded copy more often than the words save, and smaller
# tensors pay more for the extra ops than they save.
_WORD_ROWS_FROM = 256
_WORD_COUNT_FROM = 1 << 16
_WORD_CHUNK = 2040  # bytes per word sum: each byte lane of an int64 then holds at most 255


def true_counts(bits: torch.Tensor) -> torch.Tensor:
    """``bits.sum(-1)`` of a bool tensor, as int64.

    On the CPU, long rows are read eight bytes at a time (``_row_words``): each chunk of a row is
    summed as int64 words, every byte lane counting that byte's ones, and the lanes are then
    added (``_lane_totals``). Three to five times faster than torch's int32 sum of the bools for
    rows of 1,000 or more (int32 is what torch vectorises otherwise); rows of 100 gain nothing.
    """
    length = bits.shape[-1]
    if bits.device.type != "cpu" or length < _WORD_ROWS_FROM or bits.numel() < _WORD_COUNT_FROM:
        return bits.sum(-1, dtype=torch.int32).long() if length < _INT32_LIMIT else bits.sum(-1)
    words = _row_words(bits.reshape(-1, length).view(torch.uint8))
    return _lane_totals(words.sum(-1)).sum(-1).reshape(bits.shape[:-1])


# Rows of packed configurations at least this long are counted a word at a time (``bit_counts``):
# shorter ones would mostly count padding.
_BIT_WORDS_FROM = 32
_LOW_BITS = 0x0101010101010101  # bit 0 of each byte of a word


def bit_counts(words: torch.Tensor) -> torch.Tensor:
    """[G, ..., L] uint8 of configurations packed eight to a byte (bit p of ``words[g]`` belongs
    to configuration 8g + p) -> [8G, ...] int64: each configuration's ``count_true`` along the
    last dimension, all eight of a byte at once.

    Unpacking the bits first makes eight bytes per packed byte and counts each; on the CPU the
    rows are read as int64 words instead, each shifted by p and masked to bit p of every byte, so
    a word sum counts configuration p's ones in eight byte lanes (``_lane_totals`` adds them):
    about half the time of unpacking and counting, for rows of 100.
    """
    groups, length = words.shape[0], words.shape[-1]
    rows = words.flatten(0, -2)
    if words.device.type == "cpu" and length >= _BIT_WORDS_FROM and rows.shape[0]:
        packed = _row_words(rows)  # [G x rows, chunks, words per chunk]
        plane = torch.empty_like(packed)
        lanes = packed.new_empty(8, *packed.shape[:-1])
        for bit in range(8):  # a scalar shift a bit: torch shifts by a broadcast tensor several times slower
            torch.bitwise_right_shift(packed, bit, out=plane)
            torch.sum(plane.bitwise_and_(_LOW_BITS), -1, out=lanes[bit])
        counts = _lane_totals(lanes).sum(-1)  # [8, G x rows]
    else:
        shifts = torch.arange(8, dtype=torch.uint8, device=words.device).view(8, 1, 1)
        counts = ((rows[None] >> shifts) & 1).sum(-1, dtype=torch.int32).long()
    return counts.reshape(8, groups, -1).transpose(0, 1).reshape(8 * groups, *words.shape[1:-1])


def _row_words(rows: torch.Tensor) -> torch.Tensor:
    """[rows, length] uint8 -> [rows, chunks, words] int64: each row padded with zeros to whole
    chunks of at most 255 words, so that a byte lane summed over a chunk holds at most 255 and
    never carries into the next."""
    length = rows.shape[1]
    chunk = min(_WORD_CHUNK, -(-length // 8) * 8)
    padding = -length % chunk
    if padding or not rows.is_contiguous() or rows.storage_offset() % 8:
        padded = torch.empty(rows.shape[0], length + padding, dtype=torch.uint8, device=rows.device)
        padded[:, length:].zero_()  # only the padding is filled: a fill of the whole buffer is a pass more
        padded[:, :length].copy_(rows)
        rows = padded
    return rows.view(torch.int64).reshape(rows.shape[0], -1, chunk // 8)


def _lane_totals(lanes: torch.Tensor) -> torch.Tensor:
    """The sum of the eight byte lanes of each int64 word (each lane at most 255): pairs of
    lanes into four 16-bit lanes, then one multiply gathers their sum in the top 16 bits."""
    pairs = (lanes & 0x00FF00FF00FF00FF) + ((lanes >> 8) & 0x00FF00FF00FF00FF)
    return ((pairs * 0x0001000100010001) >> 48) & 0xFFFF


def any_true(bits: torch.Tensor) -> torch.Tensor:
    """``bits.any()`` of a bool tensor, as a 0-d bool tensor, through its bytes: torch reduces
    bools an element at a time on the CPU, about twenty times slower than bytes (3M: 2.5 ms
    against 0.12 ms)."""
    return bits.view(torch.uint8).any().view(torch.bool)


def with_fast_bools(module: fx.GraphModule) -> fx.GraphModule:
    """A copy of ``module`` whose dtype casts go through ``cast`` and whose sums and counts
    through ``count``; ``module`` itself is unchanged (and returned when nothing is replaced)."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    changed = False
    for node in module.graph.nodes:
        args = fx.map_arg(node.args, lambda n: env[n])
        kwargs = fx.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "call_method" and node.target in _CASTS:
            env[node] = graph.call_function(cast, (args[0], node.target, *args[1:]), kwargs)
        elif node.op in ("call_method", "call_function") and node.target in _COUNTS:
            name = node.target if isinstance(node.target, str) else node.target.__name__  # torch.sum: "sum"
            env[node] = graph.call_function(count, (name, *args), kwargs)
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
            continue
        env[node].meta = dict(node.meta)
        changed = True
    return fx.GraphModule(module, graph) if changed else module


def _target_dtype(values, method: str, args: tuple, kwargs: dict) -> torch.dtype | None:
    if not isinstance(values, torch.Tensor) or values.dtype != torch.bool:
        return None
    dtype = None
    if method in _NAMED:
        if not args and not kwargs:
            dtype = _NAMED[method]
    elif method == "type_as":
        if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
            dtype = args[0].dtype
    elif len(args) == 1 and not kwargs:  # to, type: a dtype alone, positional or by keyword
        dtype = args[0]
    elif not args and set(kwargs) == {"dtype"}:
        dtype = kwargs["dtype"]
    if not isinstance(dtype, torch.dtype) or dtype == torch.bool or dtype.is_complex:
        return None
    return dtype
