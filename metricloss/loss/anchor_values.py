"""One batch's ideal ``b*``, its anchors, and the exact metric ``g`` at them.

The step of the loss that runs without gradient: ``b*`` from the compiled metric, anchor sets from
the samplers around it and around the hard binaries, and ``g`` at ``[b, b*, *anchors]`` by the
cheapest path the batch allows (one dense call, ``g``'s affine statistics, ``g``'s rows, or
chunks of materialised anchors). ``surrogate.prepare_batch`` calls it.
"""

from __future__ import annotations

import functools

import torch

from .affine_statistics import Statistics
from .anchors import DenseAnchors
from .row_values import values_by_rows
from .samplers import SamplingContext


def ideal_and_anchors(compiled, binaries, scores, targets, samplers, generator, sizes):
    """(b*, anchor sets, g at [hard, b*, *anchors], path); (b*, None, None, "") when undefined.

    The search for b* is the compiler's (``Compiled.ideal_search``); this step only evaluates g
    for it. Its first candidate goes through g with the anchors, in one call (with its face's
    check and, without best=, the other candidates): when it stands (nearly always), nothing
    more is evaluated. Otherwise b* comes from the whole search and the anchors are drawn again
    around it.
    """
    program = compiled.program
    elements = functools.partial(program.elements, scores, targets, binaries)
    search = compiled.ideal_search(binaries, scores, targets)
    state = None if generator is None else generator.get_state()
    if search.first is not None:
        free = None if search.first.free is None else binaries.restrict(search.first.free)
        rows = search.rows
        anchor_sets, values, path = _anchors_and_values(program, binaries, search.first.configuration, free,
                                                        rows, samplers, generator, elements, sizes)
        ideal = search.settle(float(values[1]), values[2:2 + len(rows)])
        if ideal is not None and search.face_as_proposed(ideal):
            return ideal, anchor_sets, torch.cat([values[:2], values[2 + len(rows):]]), path
    else:
        ideal = None
    if ideal is None:
        ideal = search.whole()
        if not ideal.defined:
            return ideal, None, None, ""
    if state is not None:  # the same draws as on the first try
        generator.set_state(state)
    free = None if ideal.free is None else binaries.restrict(ideal.free)
    anchor_sets, values, path = _anchors_and_values(program, binaries, ideal.configuration, free, None,
                                                    samplers, generator, elements, sizes)
    return ideal, anchor_sets, values, path


def _anchors_and_values(program, binaries, ideal, free, checks, samplers, generator, elements, sizes):
    """Sample every anchor set, then g at [hard, ideal, *checks, *anchors].

    Small problems (anchors x binaries <= ``sizes.dense``, where the cost is the number of ops,
    not their size) become one dense set: one call of g on every anchor and one product for
    the distances. Larger ones keep base-plus-flips anchors sparse, go through g's affine
    statistics when it has them, and else materialise a chunk of anchors at a time.
    """
    spread = (lambda: (binaries.count, binaries.live)) if binaries.dead is not None and not binaries.twin_blocks \
        else None
    context = SamplingContext(
        ideal=binaries.restrict(ideal), current=binaries.restrict(binaries.hard), generator=generator,
        elements=elements, sizes=sizes, spread_over=spread,
    )
    drawn = [sampler(context) for sampler in samplers]
    # Sets based on b* stand for the ideal's free face, when it has one (anchors.FlipAnchors).
    anchor_sets = drawn if free is None else [a.on_ideal_face(context.ideal, free) for a in drawn]
    on_face = [a is not d for a, d in zip(anchor_sets, drawn)]
    leading = torch.stack([binaries.hard, ideal])
    if checks is not None and len(checks):
        leading = torch.cat([leading, checks])
    count = sum(a.count for a in anchor_sets)
    if (len(leading) + count) * binaries.live_count <= sizes.dense:
        groups = [[a for a, face in zip(anchor_sets, on_face) if face is wanted] for wanted in (True, False)]
        dense = [DenseAnchors(torch.cat([a.configurations(0, a.count) for a in group]), free if face else None, sizes)
                 for group, face in zip(groups, (True, False)) if group]
        rows = torch.cat([binaries.pin_dead(leading)] + [binaries.complete(d.points) for d in dense])
        return dense, program.values(binaries, rows, pinned=True, chunk=sizes.g_chunk), "dense"
    # Copies of one configuration (the ideal anchors) are evaluated once.
    distinct = [a.distinct for a in anchor_sets]
    analysis = program.analysis(binaries)
    flat, head, path = None, None, ""
    if analysis.scalar_statistics:
        head = program.values(binaries, leading, chunk=sizes.g_chunk)
        # The live binaries of b* and of the hard binaries: the bases of the flip sets.
        bases = [(context.ideal, 1), (context.current, 0)]
        flat = _values_from_statistics(program, binaries, leading, head, anchor_sets, sizes, bases)
        path = "statistics"
    if flat is None and analysis.rows is not None:
        # Without twins, a set based on b* (or the hard binaries) completes to that leading row.
        bases = {} if binaries.twin_blocks else {id(context.ideal): 1, id(context.current): 0}
        flat, path = values_by_rows(program, binaries, analysis.rows, leading, anchor_sets, sizes, bases), "rows"
    if flat is None:
        path = "chunked"
        per_chunk = max(1, sizes.g_chunk // max(binaries.count, 1))
        parts = [program.values(binaries, leading, chunk=sizes.g_chunk) if head is None else head]
        for anchors, n in zip(anchor_sets, distinct):
            rows = anchors.full_rows(binaries)
            for start in range(0, n, per_chunk):
                parts.append(program.values(binaries, rows(start, min(start + per_chunk, n)), pinned=True,
                                            chunk=sizes.g_chunk))
        flat = torch.cat(parts)
    values, offset = [flat[:len(leading)]], len(leading)
    for anchors, n in zip(anchor_sets, distinct):
        values.append(flat[offset:offset + n].expand(anchors.count) if n == 1 else flat[offset:offset + n])
        offset += n
    return anchor_sets, torch.cat(values).to(torch.float32), path


def _values_from_statistics(program, binaries, leading, head, anchor_sets, sizes, bases) -> torch.Tensor | None:
    """g at [hard, ideal, *anchors] through g's affine statistics, or None when g has none.

    The hard and ideal values come from g itself (``head``); the statistics path must give the
    same two values, or this batch's anchors go through g itself.
    """
    statistics = None if program.affine is None else Statistics.of(program.affine, binaries)
    if statistics is None:
        return None
    at_leading = statistics.at_configurations(leading)  # twins as they are: ties in the hard binaries
    if at_leading is None:  # a weight per live binary: the leading rows' own bits
        at_leading = statistics.at_points(binaries.restrict(leading), sizes)
        for base, row in bases:  # flip sets based on the hard or ideal binaries start from these
            statistics.share_base(base, at_leading[row])
    rows = torch.cat([at_leading] + [anchors.statistics(statistics) for anchors in anchor_sets])
    values = program.values_from_statistics(binaries, rows)
    if values is None or not torch.allclose(values[:len(head)], head, rtol=1e-5, atol=1e-7, equal_nan=True):
        return None  # the statistics disagree with g on this batch: g sees every anchor
    return torch.cat([head, values[len(head):]])
