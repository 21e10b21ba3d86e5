"""The learned score field of a 2D model, on a grid, for the live view's arrows.

At timestep t the network's noise prediction gives the score of the noised data,
∇ log p_t(x) ≈ −ε̂(x, t) / √(1 − ᾱ_t) (Song et al. 2021): the direction
in which the data density rises fastest. With classifier-free guidance the sampler
follows ε̃ = (1 + w) ε̂(x, c) − w ε̂(x, ∅) instead, so three fields can be shown:
the conditional one, the unconditional one and the guided one the sampler uses.
"""

from __future__ import annotations

import torch

from ..guidance import classifier_gradient
from ..parameterization import classifier_free_guidance, score_from_eps, to_x0_eps
from .wire import encode_arrows

FIELD_MODES = ("off", "guided", "all")  # none; the field the sampler follows; conditional, unconditional, guided
GRID_SIZE = 21  # arrows per side of the square view


def grid_points(limit: float, size: int = GRID_SIZE) -> torch.Tensor:
    """size × size points spaced evenly inside [-limit, limit]², row by row from the bottom: (size², 2)."""
    ticks = torch.linspace(-limit, limit, size + 2)[1:-1]  # keep arrows off the frame's edge
    ys, xs = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


@torch.inference_mode()
def score_fields(
    model,
    schedule,
    prediction: str,
    points: torch.Tensor,
    t: int,
    label: int | None,
    guidance: float,
    guide=None,
    classifier_scale: float = 0.0,
    conditional: bool = True,
) -> dict[str, torch.Tensor]:
    """The score −ε/√(1−ᾱ_t) at `points` (N, 2): {"unconditional"} without a label, else
    {"conditional", "unconditional", "guided"} (guided = conditional when w = 0). One batched model call.

    With a `guide` and classifier_scale s > 0 the guided score adds s ∇ log p(y | x_t) to the score the
    network gives: the CFG mix (`conditional`) or the unconditional one (classifier guidance alone).
    """
    device = schedule.alphas_cumprod.device
    x = points.to(device=device, dtype=torch.float32)
    n = len(x)
    sqrt_ab = schedule.sqrt_alphas_cumprod[t]
    sqrt_1m_ab = schedule.sqrt_one_minus_alphas_cumprod[t]
    rows = torch.cat([x, x]) if label is not None else x
    labels = torch.full((len(rows),), -1, dtype=torch.long, device=device)
    if label is not None:
        labels[:n] = label
    times = torch.full((len(rows),), int(t), dtype=torch.long, device=device)
    _, eps = to_x0_eps(model(rows, times, labels), rows, sqrt_ab, sqrt_1m_ab, prediction)
    scores = score_from_eps(eps, sqrt_1m_ab).float().cpu()
    if label is None:
        return {"unconditional": scores}
    conditional_score, unconditional = scores[:n], scores[n:]
    guided = classifier_free_guidance(conditional_score, unconditional, guidance) if conditional else unconditional
    if guide is not None and classifier_scale > 0:
        push = classifier_gradient(guide, classifier_scale)(x, times[:n], labels[:n])
        guided = guided + push.float().cpu()
    return {"conditional": conditional_score, "unconditional": unconditional, "guided": guided}


def shown_fields(fields: dict[str, torch.Tensor], mode: str) -> dict[str, torch.Tensor]:
    """The fields `mode` shows: none when off, the one the sampler follows for "guided", else all."""
    if mode == "off":
        return {}
    if mode == "guided":
        return {"guided": fields.get("guided", fields["unconditional"])}
    return fields


def field_payload(fields: dict[str, torch.Tensor], mode: str, size: int = GRID_SIZE) -> dict | None:
    """The frame's `field` entry: the grid size and the encoded arrows the mode asks for."""
    chosen = shown_fields(fields, mode)
    if not chosen:
        return None
    return {"size": size, **{name: encode_arrows(vectors) for name, vectors in chosen.items()}}
