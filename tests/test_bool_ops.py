"""Bool tensors cast through their bytes and counted in int32 give exactly what the call as written gives."""

import pytest
import torch
import torch.fx as fx
from hypothesis import given, settings
from hypothesis import strategies as st

import metricloss as ml
from metricloss.compiler.bool_ops import any_true, bit_counts, cast, count, true_counts, with_fast_bools

CALLS = [("float", (), {}), ("double", (), {}), ("half", (), {}), ("bfloat16", (), {}), ("long", (), {}),
         ("int", (), {}), ("short", (), {}), ("byte", (), {}), ("char", (), {}),
         ("to", (torch.float32,), {}), ("to", (), {"dtype": torch.float64}), ("to", (torch.int64,), {}),
         ("to", (torch.bool,), {}), ("to", (torch.complex64,), {}), ("to", ("cpu",), {}),
         ("type", (torch.float32,), {}), ("type", (torch.int32,), {})]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(CALLS), st.sampled_from([torch.bool, torch.float32, torch.int64, torch.uint8]),
       st.lists(st.integers(1, 5), min_size=0, max_size=3), st.booleans(), st.integers(0, 1000))
def test_a_cast_through_the_bytes_equals_the_cast_as_written(call, dtype, shape, strided, seed):
    method, args, kwargs = call
    generator = torch.Generator().manual_seed(seed)
    values = (torch.rand(*shape, 2, generator=generator) < 0.5).to(dtype)
    if strided:
        values = values.transpose(0, -1)
    expected = getattr(values, method)(*args, **kwargs)
    got = cast(values, method, *args, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert torch.equal(got, expected)
    if expected.data_ptr() != values.data_ptr():  # the cast as written made a new tensor: so does ours
        assert got.data_ptr() != values.data_ptr()


def test_type_as_reads_the_other_tensors_dtype():
    flags = torch.tensor([True, False, True])
    assert torch.equal(cast(flags, "type_as", torch.zeros(1, dtype=torch.float64)), flags.double())


COUNTS = [("sum", (), {}), ("sum", (1,), {}), ("sum", (-1, True), {}), ("sum", (), {"dim": (0, 1)}),
          ("sum", (), {"dim": 0, "keepdim": True}), ("sum", (), {"dtype": torch.float32}),
          ("count_nonzero", (), {}), ("count_nonzero", (1,), {}), ("count_nonzero", (), {"dim": (0, 2)}),
          ("sum", (2,), {}), ("count_nonzero", (0,), {})]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(COUNTS), st.sampled_from([torch.bool, torch.float32, torch.int64]), st.booleans(),
       st.integers(0, 1000))
def test_a_count_in_int32_equals_the_sum_as_written(call, dtype, strided, seed):
    reduction, args, kwargs = call
    generator = torch.Generator().manual_seed(seed)
    values = (torch.rand(3, 4, 5, generator=generator) < 0.5).to(dtype)
    if strided:
        values = values.transpose(0, 2)
    expected = getattr(torch, reduction)(values, *args, **kwargs)
    assert torch.equal(expected, getattr(values, reduction)(*args, **kwargs))
    got = count(reduction, values, *args, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape and torch.equal(got, expected)


def test_a_module_with_fast_bools_gives_the_same_values_under_vmap():
    def g(b0, b1):
        return ((b0.float() + b1.to(torch.float32)).mean() + b0.sum(-1).double().max() + b1.type(torch.int64).sum()
                + torch.count_nonzero(b0 & b1, -1).max() + torch.sum(b1, 1).float().mean())

    module = fx.symbolic_trace(g)
    fast = with_fast_bools(module)
    assert "cast" in fast.code and "count" in fast.code  # the original graph keeps its spelling:
    assert "cast" not in module.code and "bool_ops" not in module.code
    blocks = [torch.rand(7, 5, 6) < 0.5, torch.rand(7, 5, 6) < 0.5]
    expected = torch.func.vmap(module)(*blocks)
    assert torch.equal(torch.func.vmap(fast)(*blocks), expected)
    strided = [b.transpose(0, 1) for b in blocks]  # configurations cut from rows are strided
    assert torch.equal(torch.func.vmap(fast, in_dims=1)(*strided), torch.func.vmap(module, in_dims=1)(*strided))


@pytest.mark.parametrize("name", ["auc", "accuracy", "average_precision", "f1"])
def test_built_ins_keep_their_graph_and_their_values(name):
    metric = ml.get_metric(name)
    generator = torch.Generator().manual_seed(0)
    if name == "accuracy":
        scores, targets = torch.randint(0, 3, (40, 5), generator=generator).float(), (torch.randint(0, 5, (40,)),)
    else:
        scores, targets = torch.randint(0, 4, (40,), generator=generator).float(), ((torch.arange(40) % 3 == 0).long(),)
    binaries = metric.binaries(scores, *targets)
    program = metric.compiled.program
    configurations = binaries.pin_dead(torch.rand(9, binaries.count, generator=generator) < 0.5)

    def as_written(configuration):  # g's own graph, casts as the user spelled them
        blocks = [p.reshape(s) for p, s in zip(configuration.split(binaries.sizes), binaries.shapes)]
        return program.g_module.forward(*blocks, *binaries.target_values).float()

    assert "bool_ops" not in program.g_module.code
    expected = torch.stack([as_written(c) for c in configurations])
    assert torch.equal(program.values(binaries, configurations), expected)


@pytest.mark.parametrize("shape", [(3, 600_001), (2, 2040 * 300), (64, 100, 100), (4, 1000, 1000), (9000, 7), (5, 0)])
@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_true_counts_are_the_sums_of_the_rows(shape, fraction):
    bits = torch.rand(shape, generator=torch.Generator().manual_seed(len(shape))) < fraction
    assert torch.equal(true_counts(bits), bits.sum(-1))
    assert true_counts(bits).dtype == torch.int64


def test_true_counts_of_views_that_are_not_whole_words():
    bits = torch.rand(3, 700_003, generator=torch.Generator().manual_seed(0)) < 0.5
    for view in (bits[:, 1:-2], bits[1:, 3:], bits.t()[5:600_000].t(), bits[:, ::2]):
        assert torch.equal(true_counts(view), view.sum(-1))


def _bits_counted_one_by_one(words):
    """The definition: configuration 8g + p is bit p of every byte of group g, counted along the
    last dimension."""
    return torch.stack([((words[group] >> p) & 1).long().sum(-1) for group in range(words.shape[0])
                        for p in range(8)])


# Rows shorter than a word, around the word path's threshold, across whole words, across the
# 255-word chunks that keep byte lanes from carrying, and empty ones.
@pytest.mark.parametrize("shape", [(1, 5), (2, 31), (2, 32), (3, 4, 100), (2, 16, 96), (1, 3, 2040),
                                   (1, 2, 2041), (2, 2, 5000), (1, 0, 40), (2, 3, 0)])
@pytest.mark.parametrize("fill", ["random", "zeros", "ones"])
def test_bit_counts_count_each_packed_configuration_along_the_last_dimension(shape, fill):
    words = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(len(shape)))
    if fill != "random":
        words.fill_(0 if fill == "zeros" else 255)
    counts = bit_counts(words)
    assert counts.dtype == torch.int64 and counts.shape == (8 * shape[0], *shape[1:-1])
    assert torch.equal(counts, _bits_counted_one_by_one(words))


def test_bit_counts_of_views_that_are_not_whole_words():
    words = torch.randint(0, 256, (2, 30, 301), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    for view in (words[:, :, 1:], words[:, 3:, :-5], words.transpose(1, 2), words[:, ::2, ::3]):
        assert torch.equal(bit_counts(view), _bits_counted_one_by_one(view))


def test_any_true_is_any_on_every_layout():
    bits = torch.rand(4, 3001, generator=torch.Generator().manual_seed(1)) < 0.001
    for view in (bits, bits[:, 1:], bits.t(), bits[::2, ::3], torch.zeros(0, dtype=torch.bool),
                 torch.zeros(5, 7, dtype=torch.bool), torch.ones(3, dtype=torch.bool)):
        got = any_true(view)
        assert got.dtype == torch.bool and got.dim() == 0 and bool(got) == bool(view.any())
