"""A visitor's own data: strokes, a word or CSV rows become a standardised point set, and bad input
gets a message saying what is wrong."""

import json
import math

import pytest
import torch

from diffusion_core.data import forget_point_set, is_point_set, register_point_set, toy_dataset
from diffusion_core.data.custom import (
    HALF_EXTENT,
    MAX_POINTS,
    PointSetError,
    from_csv,
    from_strokes,
    from_word,
)


def ring_drawing(cx=200, cy=200, r=100, label=0, vertices=127) -> dict:
    return {"class": label, "points": [[cx + r * math.cos(a / 20), cy + r * math.sin(a / 20)] for a in range(vertices)]}


def test_a_drawn_ring_becomes_points_on_a_centred_ring():
    points = from_strokes(json.dumps({"strokes": [ring_drawing()]})).points
    assert points.shape == (1500, 2)
    assert float(points.abs().max()) == pytest.approx(HALF_EXTENT, rel=1e-5)  # the larger half-extent is 2
    radius = points.norm(dim=1)
    assert float(radius.min()) > 0.8 * float(radius.mean()) and float(radius.std()) < 0.1  # a ring, not a disc
    assert points.mean(dim=0).abs().max() < 0.1  # centred


def test_strokes_share_the_points_by_length_and_keep_their_colour_classes():
    long = ring_drawing(label=0)
    short = {"class": 2, "points": [[300, 300], [330, 300]]}  # about a twentieth of the ring's length
    point_set = from_strokes({"strokes": [long, short]})
    assert point_set.class_names == ("orange", "pink")  # the colours used, renumbered 0 and 1
    share = (point_set.labels == 1).float().mean().item()
    assert 0.03 < share < 0.10
    dot = from_strokes({"strokes": [long, {"class": 1, "points": [[10, 10]]}]})
    assert (dot.labels == 1).sum() >= 1  # a dot still counts


def test_a_word_becomes_one_class_of_ink_points_wider_than_tall():
    point_set = from_word("hello")
    assert point_set.points.shape == (2000, 2) and point_set.class_names == ("ink",)
    width, height = (point_set.points.max(0).values - point_set.points.min(0).values).tolist()
    assert width == pytest.approx(2 * HALF_EXTENT, rel=1e-4) and height < width / 2


def test_csv_rows_round_trip_with_their_class_names():
    original = from_strokes({"strokes": [ring_drawing(label=0), ring_drawing(cx=500, label=1)]})
    back = from_csv(original.to_csv())
    assert back.class_names == original.class_names == ("orange", "green")
    assert torch.allclose(back.points, original.points, atol=1e-5) and torch.equal(back.labels, original.labels)
    plain = from_csv("x,y\n" + "\n".join(f"{k},{k % 7}" for k in range(30)))
    assert plain.class_names == ("class 0",) and len(plain.points) == 30
    mixed = from_csv("\n".join(f"{k};{-k};{k % 2}" for k in range(40)))  # semicolons, two classes
    assert mixed.class_names == ("class 0", "class 1")


@pytest.mark.parametrize("drawing, message", [
    ("", "nothing is drawn yet"),
    ('{"strokes": []}', "nothing is drawn yet"),
    ("{not json", "the drawing is not valid JSON"),
    ('{"lines": []}', 'a drawing is {"strokes"'),
    ('{"strokes": [{"class": 5, "points": [[1, 2]]}]}', "stroke 1: class must be 0, 1 or 2, got 5"),
    ('{"strokes": [{"class": true, "points": [[1, 2]]}]}', "stroke 1: class must be 0, 1 or 2, got True"),
    ('{"strokes": [{"class": 0, "points": [["a", 2]]}]}', "stroke 1: points must be [x, y] pairs of numbers"),
    ('{"strokes": [{"class": 0, "points": []}]}', "stroke 1: points must be finite [x, y] pairs, at least one"),
    ('{"strokes": [{"class": 0, "points": [[1, 2], [1, 2]]}]}', "the points all lie at one place"),
    (json.dumps({"strokes": [{"class": 0, "points": [[1, 2]]}] * 201}), "201 strokes is too many; at most 200"),
    (json.dumps({"strokes": [{"class": 0, "points": [[k, k] for k in range(20_001)]}]}), "more than 20000 vertices"),
])
def test_a_bad_drawing_says_what_is_wrong(drawing, message):
    with pytest.raises(PointSetError, match=message.replace("[", r"\[").replace("{", r"\{")):
        from_strokes(drawing)


@pytest.mark.parametrize("word, message", [
    ("", "type a word first"), ("   ", "type a word first"), ("x" * 17, "17 characters is too long; type at most 16"),
    (None, "type a word first"),
])
def test_a_bad_word_says_what_is_wrong(word, message):
    with pytest.raises(PointSetError, match=message):
        from_word(word)


@pytest.mark.parametrize("rows, message", [
    ("", "paste rows of x,y or x,y,label first"),
    ("# only a comment", "no rows of numbers found"),
    ("1,2\n3,4\nfive,6", "line 3: expected x,y or x,y,label numbers, got 'five,6'"),
    ("1,2,3,4", "line 1: expected 2 or 3 finite numbers"),
    ("1,2\nnan,3", "line 2: expected 2 or 3 finite numbers"),
    ("1,2,7", "line 1: a label must be 0, 1 or 2, got '7'"),
    ("1,2,0.5", "line 1: a label must be 0, 1 or 2, got '0.5'"),
    ("\n".join(f"{k},{k}" for k in range(10)), "10 points is too few to learn from; give at least 20"),
    ("\n".join(f"{k},{k}" for k in range(MAX_POINTS + 1)), f"more than {MAX_POINTS} rows"),
])
def test_bad_rows_say_what_is_wrong(rows, message):
    with pytest.raises(PointSetError, match=message):
        from_csv(rows)


def test_a_registered_point_set_is_drawn_like_a_toy_set_with_jitter():
    point_set = from_word("ok")
    register_point_set("yours-test", point_set)
    try:
        assert is_point_set("yours-test") and not is_point_set("yours-other")
        a, labels = toy_dataset("yours-test", 3000, seed=1)
        b, _ = toy_dataset("yours-test", 3000, seed=1)
        assert torch.equal(a, b) and a.shape == (3000, 2) and set(labels.tolist()) == {0}
        nearest = torch.cdist(a, point_set.points).min(dim=1).values
        assert 0.02 < nearest.median() < 0.1  # near the ink, not on it: the jitter makes it a distribution
    finally:
        forget_point_set("yours-test")
    assert not is_point_set("yours-test")
    with pytest.raises(ValueError, match="built-in toy set"):
        register_point_set("moons", point_set)
