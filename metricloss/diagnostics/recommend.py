"""Which block to train with: a rule read off the tracking tables, and the line of code for it.

The loss trains along ĝ's slope, so a setting must first get the direction right: near the
configurations met in training (``NEAR``: Hamming fractions up to 1/128), a single flip must move
ĝ the way it moves g in at least ``MIN_SIGN`` of the flips that move g (the sign agreement).
Where some of those blocks have a gradient that points no more toward the hard binaries than
toward b* (``pulls.py``), the others are left out: a gradient that sharpens the current order
trains the order the model already has. Among the blocks left, the one whose ĝ is closest to g
there (the lowest mean gap) is recommended: its loss value also means what the metric means.
When no block reaches ``MIN_SIGN``, the one with the best sign agreement is.

The two criteria pull the temperature from both sides. A temperature far below the scores'
scale saturates the relaxed binaries: ĝ sits at the corners, where it is close to g, but a binary
on the wrong side of ``b*`` gets almost no gradient (the table's *stuck* share) and single flips
from there often move ĝ against g, which the sign agreement shows. A temperature far above it
puts every relaxed binary near 0, where ĝ is a flat blend of all the anchors: the signs may hold,
but the gap is large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..loss import NEARLY_SATURATED
from .pulls import WHOLE
from .tracking import NEAR_ZERO

NEAR = 1 / 128  # fractions up to this count as "near the configurations met"
MIN_SIGN = 0.75  # the sign agreement a recommended block needs there: three flips in four
STUCK_WARNING = 0.25  # a share of stuck binaries worth a caution
NEAR_ZERO_WARNING = 0.5  # a share of relaxed binaries near 0 worth a caution
# How much closer to the hard binaries than to b* the gradient must point for a caution (where b is
# b*, both cosines are one number).
SHARPENING_MARGIN = 0.1


@dataclass(frozen=True)
class Recommendation:
    index: int  # the block's position in the diagnosis
    tau: float | None
    sign_agreement: float  # mean over the near fractions
    gap: float  # mean over the near fractions
    code: str  # the UniLoss line to train with it
    reason: str
    caution: str = ""


def recommend(blocks) -> Recommendation | None:
    """The block the rule picks (None when no block has a defined sign agreement near b)."""
    scored = []
    for index, block in enumerate(blocks):
        near = [row for row in block.tracking.rows if row.fraction <= NEAR]
        signs = [row.sign_agreement for row in near if not math.isnan(row.sign_agreement)]
        gaps = [row.gap for row in near if not math.isnan(row.gap)]
        if signs and gaps:
            scored.append((index, sum(signs) / len(signs), sum(gaps) / len(gaps)))
    if not scored:
        return None
    block = blocks[0]
    fractions = ", ".join(row.label for row in block.tracking.rows if row.fraction <= NEAR)
    passing = [s for s in scored if s[1] >= MIN_SIGN]
    # Single flips that move g can be a handful (MRR moves with the comparisons above one item); the
    # whole gradient's direction is measured over every binary, so a block whose gradient sharpens
    # the current order gives way to one that passes the signs without doing so.
    steady = [s for s in passing if sharpening(blocks[s[0]]) is None]
    passing, left_out = (steady, len(passing) - len(steady)) if steady else (passing, 0)
    if passing:
        index, sign, gap = min(passing, key=lambda s: (s[2], s[0]))
        reason = (f"sign agreement {sign:.3f} (at least {MIN_SIGN}) and the lowest gap, {gap:.4f}, of the "
                  f"{len(passing)} of {len(blocks)} blocks that reach {MIN_SIGN} (means over distances {fractions})"
                  + (f" and whose gradient does not sharpen the current order ({left_out} more reach "
                     f"{MIN_SIGN} but do)" if left_out else "")
                  if len(blocks) > 1 else
                  f"sign agreement {sign:.3f} (at least {MIN_SIGN}) and gap {gap:.4f} (means over distances "
                  f"{fractions}); give several --tau values to compare")
    else:
        index, sign, gap = max(scored, key=lambda s: (s[1], -s[2], -s[0]))
        reason = (f"no block reaches a sign agreement of {MIN_SIGN} (means over distances {fractions}); this one "
                  f"has the best, {sign:.3f}, with gap {gap:.4f}: try other temperatures or more anchors")
    block = blocks[index]
    cautions = []
    stuck, near_zero = block.tracking.stuck, block.tracking.near_zero
    if not math.isnan(stuck) and stuck > STUCK_WARNING:
        cautions.append(f"{stuck:.0%} of the binaries on the wrong side of b* are saturated "
                        f"(|h| > {NEARLY_SATURATED}): they get almost no gradient; a larger tau gives them some")
    whole = sharpening(block)
    if whole is not None:
        cautions.append(f"the loss's gradient points more toward the current hard binaries (cosine "
                        f"{whole.toward_hard:.2f}) than toward b* ({whole.toward_ideal:.2f}): it sharpens the current "
                        "order, right or wrong; compare a sharper interpolator, e.g. --interpolator "
                        "inverse_distance:power=4, under which far anchors lend less")
    if near_zero > NEAR_ZERO_WARNING:
        cautions.append(f"{near_zero:.0%} of the relaxed binaries are near 0 (|h| < {NEAR_ZERO}): the loss is flat "
                        "there; a smaller tau sharpens it")
    return Recommendation(index=index, tau=block.tau, sign_agreement=sign, gap=gap, code=code_line(block),
                          reason=reason, caution="; ".join(cautions))


def sharpening(block):
    """The block's whole-gradient row when it points more toward the hard binaries than toward b*
    (by ``SHARPENING_MARGIN``), else None."""
    whole = next((p for p in block.tracking.pulls if p.sampler == WHOLE), None)
    if whole is not None and whole.toward_hard > max(whole.toward_ideal, 0.0) + SHARPENING_MARGIN:
        return whole
    return None


def code_line(block) -> str:
    """``ml.UniLoss("auc", relaxation=ml.sigmoid(tau=0.3), samplers=[...], ...)``: the block's parts as code."""
    loss = block.run.loss_fn
    metric = loss.metric
    bound = "".join(f", {k}={v!r}" for k, v in metric.params.items())
    parts = [f"ml.get_metric({metric.name!r}{bound})" if bound else repr(metric.name),
             f"relaxation={_call('relaxation', loss.relaxation)}",
             "samplers=[" + ", ".join(_call("sampler", s) for s in loss.samplers) + "]",
             f"interpolator={_call('interpolator', loss.interpolator)}"]
    if loss.selection is not None:
        parts.append(f"selection=ml.{loss.selection.name}({_arguments(loss.selection)})")
    if loss.margin:
        parts.append(f"margin={loss.margin:g}")
    return f"ml.UniLoss({', '.join(parts)})"


def _call(kind: str, part) -> str:
    """``ml.sigmoid(tau=0.3)`` for a built-in part; ``ml.get_plugin("relaxation", "arctan")(...)`` for
    another package's."""
    import metricloss as ml

    try:
        factory = ml.get_plugin(kind, part.name)
    except ml.PluginError:
        factory = None
    if factory is not None and getattr(ml, part.name, None) is factory:
        return f"ml.{part.name}({_arguments(part)})"
    return f"ml.get_plugin({kind!r}, {part.name!r})({_arguments(part)})"


def _arguments(part) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in part.params.items())
