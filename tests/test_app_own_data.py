"""/train through gradio_client: a drawn ring and a word become models their visitor alone can sample,
bad input gets a message, and the download is a checkpoint folder that loads."""

import json
import math
import os
import zipfile

os.environ["DIFFUSION_OWN_TRAIN_SECONDS"] = "8"  # read at each /train: a short budget for the tests
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError, ValidationError

from diffusion_core.data import forget_point_set
from diffusion_core.data.custom import from_strokes, from_word
from diffusion_core.evaluation.metrics import stray_share
from diffusion_core.weights.pipeline import load_pipeline

RING = json.dumps({"strokes": [{"class": 0, "points": [[200 + 100 * math.cos(a / 20), 200 + 100 * math.sin(a / 20)]
                                                       for a in range(127)]}]})
TWO_LINES = json.dumps({"strokes": [{"class": 0, "points": [[100 + 3 * k, 100 + 2 * k] for k in range(60)]},
                                    {"class": 1, "points": [[300, 50 + 4 * k] for k in range(60)]}]})


def sample(client, model, **changes):
    values = {"sampler": "ddpm", "steps": 100, "eta": 0.0, "class_name": "unconditional", "guidance": 0.0,
              "num_samples": 1000, "seed": 1, "show_x0": False, "field": "off", **changes}
    return client.predict(model, *values.values(), api_name="/sample")


def train(client, source="drawing", strokes="", word="", rows=""):
    loss, words, model, download = client.predict(source, strokes, word, rows, api_name="/train")
    return loss, words, model["value"], download["value"]


@pytest.fixture(scope="module")
def ring_model(app_url):
    client = Client(app_url, verbose=False)
    return client, *train(client, strokes=RING)


def test_a_drawn_ring_trains_into_a_model_of_that_ring(ring_model):
    client, _, words, name, _ = ring_model
    assert name.startswith("yours-") and "**Trained** after" in words
    summary = sample(client, name)[3]
    # The quality meter reads the run against fresh draws of the drawn ring itself.
    assert summary["model"] == name and summary["quality"]["sw_ratio"] < 2.5 and summary["quality"]["strays"] < 0.1
    assert client.predict(api_name="/gif").endswith(".gif")  # every view works on it: the GIF of the run too
    field = sample(client, name, num_samples=200, field="guided", show_x0=True)[3]
    assert field["field"] == "guided" and field["show_x0"] is True
    _, compared = client.predict(name, "unconditional", 200, 1, "ddpm", 50, 0.0, 0.0, "classifier-free", 0.0,
                                 "ddim", 50, 0.0, 0.0, "classifier-free", 0.0, api_name="/compare")
    assert compared["model"] == name and len(compared["sides"]) == 2


def test_another_visitor_can_neither_see_nor_sample_it(ring_model, app_url):
    _, _, _, name, _ = ring_model
    other = Client(app_url, verbose=False)
    with pytest.raises(ValidationError, match=f"unknown model '{name}'"):
        sample(other, name)
    listed = other.predict("moons", "unconditional", 50, 100, "points", api_name="/model_controls")
    assert name not in json.dumps(listed)


def test_the_download_is_a_checkpoint_folder_that_loads_and_samples(ring_model, tmp_path):
    _, _, _, name, download = ring_model
    with zipfile.ZipFile(download) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / name
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "points.csv", "README.md",
                                                   "data.png"}
    forget_point_set(name)
    pipeline = load_pipeline(folder)
    points = pipeline.generate(1000, sampler="ddpm", steps=100, seed=0)
    ring = from_strokes(RING)
    assert stray_share(points, [ring.draw(1000, torch.Generator().manual_seed(k))[0] for k in range(3)]) < 0.1


def test_a_two_colour_drawing_gives_guidance_two_classes(app_url):
    client = Client(app_url, verbose=False)
    _, _, name, _ = train(client, strokes=TWO_LINES)
    guided = sample(client, name, class_name="green", guidance=3.0, sampler="ddim", steps=50)[3]
    assert guided["class"] == "green" and guided["quality"]["class_conformity"] > 0.9


def test_a_word_trains_too(app_url):
    client = Client(app_url, verbose=False)
    _, words, name, _ = train(client, source="word", word="hi")
    assert "the word" in words
    points = client.predict(name, "ddpm", 100, 0.0, "unconditional", 0.0, 1000, 0, False, "off", api_name="/sample")
    assert points[3]["quality"]["strays"] < 0.15
    assert from_word("hi").class_names == ("ink",)


@pytest.mark.parametrize("inputs, message", [
    (("drawing", "", "", ""), "the drawing: nothing is drawn yet"),
    (("drawing", "{oops", "", ""), "the drawing: the drawing is not valid JSON"),
    (("word", "", "", ""), "the word: type a word first"),
    (("word", "", "x" * 17, ""), "the word: 17 characters is too long"),
    (("csv", "", "", "1,2\nthree,4"), "the pasted rows: line 2: expected x,y or x,y,label numbers"),
    (("csv", "", "", "1,2"), "the pasted rows: 1 points is too few to learn from"),
    (("sideways", "", "", ""), "train on one of drawing, word, csv, got 'sideways'"),
    ((None, None, None, None), "train on one of drawing, word, csv, got None"),
])
def test_bad_input_gets_a_message_and_the_server_serves_on(app_url, inputs, message):
    client = Client(app_url, verbose=False)
    with pytest.raises(AppError, match=message.replace("(", r"\(")):
        client.predict(*inputs, api_name="/train")
    assert sample(client, "moons", num_samples=50, steps=5)[3]["sample_shape"] == [50, 2]


def test_a_closed_page_takes_its_model_and_data_with_it():
    import types

    from app_standins import standin_cache

    from diffusion_core.data import is_point_set
    from diffusion_core.demo.handlers import Handlers

    handlers = Handlers(standin_cache())
    request = types.SimpleNamespace(session_hash="leaving")
    *_, last = handlers.train_own("drawing", RING, "", "", request=request)
    name = last[2]["value"]
    assert handlers.cache.private_names("leaving") == [name] and is_point_set(name)
    assert handlers.cache.private_names("someone-else") == []
    handlers.forget_session(request)  # Gradio's unload, when the page closes
    assert handlers.cache.private_names("leaving") == [] and not is_point_set(name)


def test_an_expired_model_goes_with_its_data_when_the_next_one_arrives():
    from app_standins import standin_cache

    from diffusion_core.data import is_point_set
    from diffusion_core.weights.own_model import train_own_model

    cache = standin_cache()
    *_, old = train_own_model(from_strokes(RING), "yours-old-test", seconds=0.5)
    *_, new = train_own_model(from_word("ok"), "yours-new-test", seconds=0.5)
    cache.add_private("yours-old-test", "a", old)
    cache.add_private("yours-new-test", "b", new, ttl_s=0.0)  # everything older has expired
    assert cache.private_names("a") == [] and not is_point_set("yours-old-test")
    assert cache.private_names("b") == ["yours-new-test"] and is_point_set("yours-new-test")
    cache.drop_private("b")
    assert not is_point_set("yours-new-test")
