import base64
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from wire_decode import decode_points

from diffusion_core.demo import plots, wire
from diffusion_core.evaluation.pictures import image_grid


def test_encoded_points_decode_to_within_half_a_quantization_step():
    rng = np.random.default_rng(0)
    x = rng.uniform(-6.0, 6.0, size=(500, 2)).astype(np.float32)
    limit = 3.2
    decoded = decode_points(wire.encode_points(x, limit), limit)
    step = 2 * limit / 32767
    assert decoded.shape == (500, 2)
    assert np.abs(decoded - x).max() <= step / 2 + 1e-6


def test_points_beyond_twice_the_view_are_clamped_outside_the_view():
    decoded = decode_points(wire.encode_points(np.array([[100.0, -100.0]]), 3.0), 3.0)
    assert decoded[0, 0] == pytest.approx(6.0, rel=1e-4) and decoded[0, 1] == pytest.approx(-6.0, rel=1e-4)


def test_encoded_frame_is_two_bytes_per_coordinate():
    frame = plots.points_frame(np.zeros((2000, 2)), 3.2, "t", 0.5, 0, 10, 999)
    assert len(base64.b64decode(frame["xy"])) == 2000 * 2 * 2


def test_points_frame_carries_the_guess_x0_only_when_given():
    x, x0 = np.zeros((10, 2)), np.full((10, 2), 1.5)
    assert "x0" not in plots.points_frame(x, 3.2, "t", 0.5, 0, 10, 999)
    with_guess = plots.points_frame(x, 3.2, "t", 0.5, 0, 10, 999, x0)
    assert np.allclose(decode_points(with_guess["x0"], 3.2), 1.5, atol=1e-3)


def test_axis_limit_covers_the_data_and_standard_noise():
    assert plots.axis_limit(np.array([[0.5, -0.2]])) == plots.MIN_LIMIT
    assert plots.axis_limit(np.array([[0.0, -5.0]])) == pytest.approx(5.5)


def test_step_title_names_sampler_step_and_timestep():
    assert plots.step_title("ddim", 11, 50, 779) == "DDIM · step 12/50 · t = 779"
    assert plots.step_title("ddpm", 999, 1000, 0) == "DDPM · step 1000/1000 · done: x₀, the samples"


def test_images_frame_carries_the_grid_pixels():
    images = np.random.default_rng(1).uniform(-1, 1, size=(16, 1, 28, 28))
    frame = plots.images_frame(images, "t", 1.0, 0, 1, 0)
    grid = image_grid(images)
    pixels = np.frombuffer(base64.b64decode(frame["pixels"]), dtype=np.uint8)
    assert (frame["height"], frame["width"]) == grid.shape
    assert np.array_equal(pixels.reshape(grid.shape), grid)


def test_images_frame_puts_the_guess_grid_beside_when_given():
    images = np.zeros((4, 1, 28, 28))
    guess = np.ones((4, 1, 28, 28))
    frame = plots.images_frame(images, "t", 1.0, 0, 1, 0, guess)
    pixels = np.frombuffer(base64.b64decode(frame["x0_pixels"]), dtype=np.uint8)
    assert np.array_equal(pixels.reshape(frame["height"], frame["width"]), image_grid(guess))
    assert "x0_pixels" not in plots.images_frame(images, "t", 1.0, 0, 1, 0)


def test_frame_message_replaces_keeps_or_clears_the_background():
    kept = json.loads(wire.frame_message([{"kind": "blank"}], mode="append"))
    cleared = json.loads(wire.frame_message([], mode="replace", background=None))
    picture = plots.background(np.zeros((3, 2)), np.array([0, 1, 1]), 3.2, "moons:-1")
    set_ = json.loads(wire.frame_message([], mode="replace", final=True, background=picture))
    assert "background" not in kept and kept["mode"] == "append" and kept["frames"] == [{"kind": "blank"}]
    assert cleared["background"] is None
    assert set_["background"]["key"] == "moons:-1" and set_["final"] is True


def values(array) -> np.ndarray:
    """A plotly array, plain or as plotly's base64 typed-array spec {'dtype', 'bdata'}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def test_points_figure_is_a_valid_plotly_figure_with_data_and_samples():
    rng = np.random.default_rng(2)
    data, labels = rng.normal(size=(300, 2)), rng.integers(0, 2, 300)
    samples = rng.normal(size=(120, 2))
    figure = plots.points_figure(samples, data, labels, ("a", "b"), 3.2, "title")
    validated = go.Figure(figure)  # validates every property; raises if one is invalid
    names = [trace.name for trace in validated.data]
    assert names == ["data: a", "data: b", "samples"]
    assert np.allclose(values(validated.data[2].x), samples[:, 0])
    assert np.allclose(values(validated.data[0].y), data[labels == 0, 1])
    assert sum(len(values(trace.x)) for trace in validated.data[:2]) == 300
    assert list(validated.layout.xaxis.range) == [-3.2, 3.2]


def test_plot_value_serializes_the_figure_as_plotly_itself_would():
    rng = np.random.default_rng(3)
    data, labels = rng.normal(size=(50, 2)).astype(np.float32), rng.integers(0, 3, 50)
    samples = rng.normal(size=(40, 2)).astype(np.float32)
    figure = plots.points_figure(samples, data, labels, ("a", "b", "c"), 2.0, "title")
    value = plots.plot_value(figure)
    sent, reference = json.loads(value.plot), json.loads(go.Figure(figure).to_json())
    assert value.type == "plotly"
    assert sent == reference  # the same arrays, layout and default template as a go.Figure's JSON
    assert sent["layout"]["template"]["layout"]["colorway"]  # the template travels: the look is plotly's


def test_points_raster_paints_each_point_where_its_coordinates_fall():
    backdrop = np.full((100, 100, 3), 255, np.uint8)
    raster = plots.points_raster(np.array([[0.0, 0.0], [-0.99, 0.99], [5.0, 5.0]]), 1.0, backdrop, dot=1)
    painted = np.argwhere((raster != 255).any(axis=2))
    assert sorted(map(tuple, painted)) == [(0, 0), (50, 50)]  # the third point lies outside the view


def test_captioned_adds_a_strip_with_the_caption_below_the_picture():
    image = np.asarray(plots.captioned(np.zeros((10, 40), np.uint8), "step 1"))
    assert image.shape == (10 + plots.CAPTION_PIXELS, 40, 3)
    assert (image[:10] == 0).all()  # the picture, untouched, on top (Gradio's label covers the top edge)
    strip = image[10:]
    assert (strip == 255).mean() > 0.5 and (strip < 128).any()  # white, with the caption's dark text


def test_enlarged_repeats_pixels_by_the_largest_whole_factor_that_fits():
    picture = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = plots.enlarged(picture, 10)  # factor 3: longer side 9 ≤ 10
    assert big.shape == (6, 9) and (big[:3, :3] == 0).all() and (big[3:, 6:] == 5).all()
    assert plots.enlarged(picture, 2).shape == (2, 3)
