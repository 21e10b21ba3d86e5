"""The learned field: closed-form scores of Gaussians, every prediction type, arrows toward the data."""

import pytest
import torch
from wire_decode import decode_arrows

from diffusion_core.analytic import GaussianMixture
from diffusion_core.data import toy_dataset
from diffusion_core.demo.field import field_payload, grid_points, score_fields
from diffusion_core.demo.wire import encode_arrows
from diffusion_core.schedules import NoiseSchedule
from diffusion_core.weights.pipeline import load_pipeline

pytestmark = pytest.mark.usefixtures("single_thread")

SCHEDULE = NoiseSchedule.create("linear", 1000)
MEANS = torch.tensor([[-1.0, 0.5], [1.5, -1.0]])
STD = 0.3
MIXTURE = GaussianMixture(MEANS, torch.full((2,), STD), torch.tensor([0.5, 0.5]), torch.tensor([0, 1]))
EXACT_EPS = MIXTURE.denoiser(SCHEDULE)


def as_prediction(kind: str):
    """The exact denoiser re-expressed as a network predicting `kind` (ε, x0 or v)."""

    def model(x_t, t, labels):
        eps = EXACT_EPS(x_t, t, labels)
        sa, s1 = SCHEDULE.sqrt_alphas_cumprod[t][:, None], SCHEDULE.sqrt_one_minus_alphas_cumprod[t][:, None]
        x0 = (x_t - s1 * eps) / sa
        return {"epsilon": eps, "sample": x0, "v_prediction": sa * eps - s1 * x0}[kind]

    return model


@pytest.mark.parametrize("kind", ["epsilon", "sample", "v_prediction"])
def test_the_conditional_field_is_the_closed_form_score_of_the_noised_class_gaussian(kind):
    t, w = 300, 2.0
    points = grid_points(3.0, 7)
    fields = score_fields(as_prediction(kind), SCHEDULE, kind, points, t, label=0, guidance=w)
    ab = SCHEDULE.alphas_cumprod[t].double()
    # Class 0 is one Gaussian N(μ0, s²I); noised, N(√ᾱ μ0, (ᾱ s² + 1 − ᾱ) I), whose score is linear.
    expected = -(points.double() - ab.sqrt() * MEANS[0].double()) / (ab * STD**2 + 1 - ab)
    torch.testing.assert_close(fields["conditional"].double(), expected, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(fields["guided"], (1 + w) * fields["conditional"] - w * fields["unconditional"])
    assert not torch.allclose(fields["conditional"], fields["unconditional"], atol=1e-2)


def test_without_a_class_only_the_unconditional_field_is_computed():
    fields = score_fields(as_prediction("epsilon"), SCHEDULE, "epsilon", grid_points(3.0, 5), 10, None, 3.0)
    assert list(fields) == ["unconditional"] and fields["unconditional"].shape == (25, 2)


def test_grid_is_row_by_row_from_the_bottom_inside_the_view():
    points = grid_points(2.0, 3)
    assert points.tolist() == [[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0], [-1.0, 0.0], [0.0, 0.0], [1.0, 0.0],
                               [-1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]


def test_arrows_keep_direction_and_scale_lengths_by_the_square_root_of_the_relative_norm():
    vectors = torch.tensor([[3.0, 4.0], [0.0, -1.25], [0.0, 0.0]])
    arrows = decode_arrows(encode_arrows(vectors))
    assert arrows[0] == pytest.approx([0.6, 0.8], abs=0.01)  # the longest arrow has length 1
    assert arrows[1] == pytest.approx([0.0, -0.5], abs=0.01)  # |v| is 1/4 of the longest: length √(1/4)
    assert arrows[2].tolist() == [0.0, 0.0]
    assert decode_arrows(encode_arrows(torch.zeros(4, 2))).tolist() == [[0.0, 0.0]] * 4


def test_payload_sends_the_guided_field_or_all_three():
    fields = score_fields(as_prediction("epsilon"), SCHEDULE, "epsilon", grid_points(3.0, 4), 50, 1, 1.0)
    assert field_payload(fields, "off") is None
    assert set(field_payload(fields, "guided", 4)) == {"size", "guided"}
    assert set(field_payload(fields, "all", 4)) == {"size", "conditional", "unconditional", "guided"}
    unconditional = {"unconditional": fields["unconditional"]}
    assert set(field_payload(unconditional, "guided", 4)) == {"size", "guided"}


@pytest.mark.parametrize("name", ["moons", "swissroll"])
def test_a_trained_models_field_points_toward_the_data_at_small_t(name):
    pipeline = load_pipeline(name, device="cpu")
    data, _ = toy_dataset(name, 4000, seed=5)
    points = grid_points(3.2, 21)
    score = score_fields(pipeline.model, pipeline.schedule, pipeline.prediction, points, 20, None, 0.0)["unconditional"]
    toward = data[torch.cdist(points, data).argmin(dim=1)] - points
    off_the_data = toward.norm(dim=1) > 0.1  # on the data the nearest point gives no direction
    cosine = torch.nn.functional.cosine_similarity(score[off_the_data], toward[off_the_data], dim=1)
    assert off_the_data.sum() > 300 and cosine.mean() > 0.8
