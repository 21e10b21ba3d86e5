"""Every public endpoint answers a bad value with a message that names what is allowed, and keeps serving.

A catalogue of bad inputs sent as an API client would (gradio_client, and plain HTTP for the
NaN and ±inf that strict JSON cannot carry), endpoint by endpoint, with a good run after each
batch; and property-based checks of the request validator with hypothesis.
"""

import json
import math
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx
import pytest
from app_standins import standin_cache
from gradio_client import Client
from gradio_client.exceptions import AppError, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffusion_core.demo.requests import RequestError, input_values, validate_request

GOOD = input_values({"steps": 5, "guidance": 0.0, "num_samples": 50})


def sample(**changes) -> list:
    return input_values({"steps": 5, "guidance": 0.0, "num_samples": 50, **changes})


# (endpoint, inputs, what the message must say)
CATALOGUE = [
    ("/sample", sample(model="nope"), "unknown model 'nope'; choose one of: moons"),
    ("/sample", sample(model=None), "unknown model None; choose one of"),
    ("/sample", sample(model=3), "unknown model 3; choose one of"),
    ("/sample", sample(model=["moons"]), "unknown model ['moons']; choose one of"),
    ("/sample", sample(model="x" * 100_000), "unknown model 'xxxx"),
    ("/sample", sample(sampler="euler"), "unknown sampler 'euler'; choose one of ddpm, ddim, dpmpp_2m, heun, euler_ancestral"),
    ("/sample", sample(sampler=None), "unknown sampler None; choose one of ddpm, ddim, dpmpp_2m, heun, euler_ancestral"),
    ("/sample", sample(sampler=1), "unknown sampler 1; choose one of ddpm, ddim, dpmpp_2m, heun, euler_ancestral"),
    ("/sample", sample(steps=0), "steps must be a whole number from 1 to 1000, got 0"),
    ("/sample", sample(steps=1001), "steps must be a whole number from 1 to 1000, got 1001"),
    ("/sample", sample(steps=-5), "steps must be a whole number from 1 to 1000, got -5"),
    ("/sample", sample(steps=2.5), "steps must be a whole number from 1 to 1000, got 2.5"),
    ("/sample", sample(steps="50"), "steps must be a whole number from 1 to 1000, got '50'"),
    ("/sample", sample(steps=True), "steps must be a whole number from 1 to 1000, got True"),
    ("/sample", sample(steps=None), "steps must be a whole number from 1 to 1000, got None"),
    ("/sample", sample(steps=[5]), "steps must be a whole number from 1 to 1000, got [5]"),
    ("/sample", sample(eta=-0.1), "eta (η) must be a number from 0 to 1, got -0.1"),
    ("/sample", sample(eta=1.5), "eta (η) must be a number from 0 to 1, got 1.5"),
    ("/sample", sample(eta="0"), "eta (η) must be a number from 0 to 1, got '0'"),
    ("/sample", sample(class_name="A"), "class 'A' is not a class of moons; choose one of: unconditional"),
    ("/sample", sample(class_name=["upper moon"]), "class ['upper moon'] is not a class of moons"),
    ("/sample", sample(class_name=5), "class 5 is not a class of moons"),
    ("/sample", sample(guidance=-1), "guidance weight w must be a number from 0 to 20, got -1"),
    ("/sample", sample(guidance=20.5), "guidance weight w must be a number from 0 to 20, got 20.5"),
    ("/sample", sample(guidance=None), "guidance weight w must be a number from 0 to 20, got None"),
    ("/sample", sample(guidance="3"), "guidance weight w must be a number from 0 to 20, got '3'"),
    ("/sample", sample(num_samples=0), "number of points for moons must be a whole number from 1 to 5000"),
    ("/sample", sample(num_samples=5001), "number of points for moons must be a whole number from 1 to 5000"),
    ("/sample", sample(num_samples=2.5), "number of points for moons must be a whole number from 1 to 5000"),
    ("/sample", sample(model="emnist", num_samples=65), "number of images for emnist must be a whole number from 1 to 64"),
    ("/sample", sample(seed=-1), "seed must be a whole number from 0 to 2147483647, got -1"),
    ("/sample", sample(seed=2**31), "seed must be a whole number from 0 to 2147483647, got 2147483648"),
    ("/sample", sample(seed=1.5), "seed must be a whole number from 0 to 2147483647, got 1.5"),
    ("/sample", sample(seed=None), "seed must be a whole number from 0 to 2147483647, got None"),
    ("/sample", sample(show_x0="yes"), "show_x0 must be true or false, got 'yes'"),
    ("/sample", sample(show_x0=1), "show_x0 must be true or false, got 1"),
    ("/sample", sample(field="sideways"), "field must be one of off, guided, all, got 'sideways'"),
    ("/sample", sample(field=True), "field must be one of off, guided, all, got True"),
    ("/sample", sample(guidance_kind="implicit"), "guidance kind must be one of classifier-free, classifier, both"),
    ("/sample", sample(model="moons_epsilon", class_name="upper moon", guidance_kind="classifier"),
     "classifier guidance needs a noise-aware classifier for moons_epsilon, and it has no guide; choose classifier-free"),
    ("/sample", sample(classifier_scale=-1), "classifier scale s must be a number from 0 to 100, got -1"),
    ("/sample", sample(classifier_scale="big"), "classifier scale s must be a number from 0 to 100, got 'big'"),
    ("/sample", sample(variance="wide"), "variance must be one of default, fixed_small, fixed_large, learned"),
    ("/sample", sample(sampler="ddpm", variance="learned"), "moons did not learn its variance; choose fixed_small"),
    ("/compare", ["moons_epsilon", "upper moon", 40, 0, "ddpm", 10, 0.0, 0.0, "classifier", 3.0, "ddim", 10, 0.0,
                  0.0, "classifier-free", 0.0], "classifier guidance needs a noise-aware classifier for moons_epsilon"),
    ("/sample", sample(model="emnist", sampler="ddpm", steps=1000, class_name="A", guidance=3.0, num_samples=64),
     "and a run may take at most 15 s"),
    ("/compare", ["moons", "upper moon", 40, 0, "euler", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, 0.0, "classifier-free", 0.0],
     "unknown sampler 'euler'; choose one of ddpm, ddim, dpmpp_2m, heun, euler_ancestral"),
    ("/compare", ["moons", "upper moon", 40, 0, "ddpm", 0, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, 0.0, "classifier-free", 0.0],
     "steps must be a whole number from 1 to 1000, got 0"),
    ("/compare", ["moons", "upper moon", 40, 0, "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 3, 0.0, "classifier-free", 0.0],
     "eta (η) must be a number from 0 to 1, got 3"),
    ("/compare", ["moons", "upper moon", 40, 0, "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, -2, "classifier-free", 0.0],
     "guidance weight w must be a number from 0 to 20, got -2"),
    ("/compare", ["nope", "upper moon", 40, 0, "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, 0.0, "classifier-free", 0.0],
     "unknown model 'nope'; choose one of"),
    ("/compare", ["moons", "G", 40, 0, "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, 0.0, "classifier-free", 0.0],
     "class 'G' is not a class of moons"),
    ("/compare", ["moons", "upper moon", 0, 0, "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, 0.0, "classifier-free", 0.0],
     "number of points for moons must be a whole number from 1 to 5000"),
    ("/compare", ["moons", "upper moon", 40, "zero", "ddpm", 10, 0.0, 0.0, "classifier-free", 0.0,
                  "ddim", 10, 0.0, 0.0, "classifier-free", 0.0],
     "seed must be a whole number from 0 to 2147483647, got 'zero'"),
    ("/forward", ["moons", "quadratic", 1000, 0], "unknown schedule 'quadratic'; choose one of linear, cosine, sigmoid"),
    ("/forward", ["moons", "cosine", 1e9, 0], "T (diffusion steps) must be a whole number from 10 to 2000"),
    ("/forward_at", [500], "no forward film in this session yet: press Play forward first"),
    ("/explain", ["moons", "ddim", "abc", 0.0, "unconditional", 3.0], "steps must be a whole number from 1 to 1000"),
    ("/explain", ["moons", "ddim", 0, 0.0, "unconditional", 3.0], "steps must be a whole number from 1 to 1000, got 0"),
    ("/explain", ["moons", "ddim", 10, 5, "unconditional", 3.0], "eta must be a number from 0 to 1, got 5"),
    ("/explain", ["moons", "ddim", 10, 0.0, "unconditional", -1], "w must be a number from 0 to 20, got -1"),
    ("/explain", ["moons", "ddim", 10, 0.0, "unconditional", None], "w must be a number from 0 to 20, got None"),
    ("/model_controls", ["nope", "unconditional", 50, 16], "unknown model 'nope'; choose one of"),
    ("/model_controls", ["moons", "unconditional", "abc", 16], "steps must be a number, got 'abc'"),
    ("/model_controls", ["moons", "unconditional", 50, None], "number of samples must be a number, got None"),
    ("/model_controls", [None, "unconditional", 50, 16], "unknown model None; choose one of"),
    ("/recompute_tables", ["emnist"], "emnist: the sweeps of an image model take minutes"),
    ("/recompute_tables", ["nope"], "unknown model 'nope'; choose one of"),
    ("/recompute_tables", [None], "unknown model None; choose one of"),
    ("/recompute_tables", [[1]], "unknown model [1]; choose one of"),
    ("/train", ["drawing", "", "", ""], "the drawing: nothing is drawn yet"),
    ("/train", ["drawing", "[1, 2]", "", ""], 'the drawing: a drawing is {"strokes"'),
    ("/train", ["word", "", "   ", ""], "the word: type a word first"),
    ("/train", ["csv", "", "", "1,2\nx,3"], "the pasted rows: line 2: expected x,y or x,y,label numbers"),
    ("/train", ["elsewhere", "", "", ""], "train on one of drawing, word, csv, got 'elsewhere'"),
]
# Sent over plain HTTP: strict JSON (gradio_client) cannot carry them.
NON_FINITE = [
    (sample(steps=math.nan), "steps must be a whole number from 1 to 1000, got nan"),
    (sample(steps=math.inf), "steps must be a whole number from 1 to 1000, got inf"),
    (sample(eta=math.nan), "eta (η) must be a number from 0 to 1, got nan"),
    (sample(guidance=math.inf), "guidance weight w must be a number from 0 to 20, got inf"),
    (sample(guidance=-math.inf), "guidance weight w must be a number from 0 to 20, got -inf"),
    (sample(num_samples=math.nan), "number of points for moons must be a whole number from 1 to 5000, got nan"),
    (sample(seed=math.inf), "seed must be a whole number from 0 to 2147483647, got inf"),
]


def test_the_catalogue_is_large_and_covers_every_public_endpoint(app_url):
    assert len(CATALOGUE) + len(NON_FINITE) + 2 >= 60  # the two scrub/GIF cases below
    named = set(Client(app_url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == {endpoint for endpoint, _, _ in CATALOGUE} | {"/scrub", "/gif"}


@pytest.mark.parametrize("endpoint", sorted({endpoint for endpoint, _, _ in CATALOGUE}))
def test_each_bad_input_gets_a_message_naming_what_is_allowed_and_the_server_serves_on(app_url, endpoint):
    client = Client(app_url, verbose=False)
    for name, inputs, message in CATALOGUE:
        if name != endpoint:
            continue
        # /sample and /compare refuse bad values in their validator, before the queue (ValidationError);
        # the other endpoints in their handler (AppError).
        with pytest.raises((AppError, ValidationError)) as error:
            client.predict(*inputs, api_name=endpoint)
        assert message in str(error.value), (inputs, str(error.value))
        assert len(str(error.value)) < 600  # a 100,000-character value is cut, not echoed
    assert client.predict(*GOOD, api_name="/sample")[3]["sample_shape"] == [50, 2]


def test_non_finite_numbers_over_plain_http_get_a_message_too(app_url):
    for inputs, message in NON_FINITE:
        posted = httpx.post(f"{app_url}gradio_api/call/sample", content=json.dumps({"data": inputs}),
                            headers={"content-type": "application/json"})
        # Refused by the validator, before the queue: the message is in the reply itself.
        assert posted.status_code == 422 and message in posted.text, (inputs, posted.text)
    assert Client(app_url, verbose=False).predict(*GOOD, api_name="/sample")[3]["sample_shape"] == [50, 2]


def test_scrubbing_a_bad_frame_and_asking_for_a_gif_before_any_run_say_what_to_do(app_url):
    client = Client(app_url, verbose=False)
    with pytest.raises(AppError, match="no stored trajectory for this session .* press Run again"):
        client.predict(api_name="/gif")
    client.predict(*GOOD, api_name="/sample")
    for position in ("abc", -1, 99):
        with pytest.raises(AppError, match="frame must be a whole number from 0 to 4"):
            client.predict(position, api_name="/scrub")
    assert json.loads(client.predict(2, api_name="/scrub"))["frames"][0]["index"] == 2


CACHE = standin_cache()
NUMBERS = {  # field, message start, allowed [low, high], whole
    "steps": ("steps must be a whole number from 1 to 1000", 1, 1000, True),
    "eta": ("eta (η) must be a number from 0 to 1", 0.0, 1.0, False),
    "guidance": ("guidance weight w must be a number from 0 to 20", 0.0, 20.0, False),
    "num_samples": ("number of points for moons must be a whole number from 1 to 5000", 1, 5000, True),
    "seed": ("seed must be a whole number from 0 to 2147483647", 0, 2**31 - 1, True),
}


def not_allowed(low, high, whole):
    outside = st.one_of(st.floats(max_value=low, exclude_max=True), st.floats(min_value=high, exclude_min=True),
                        st.sampled_from([math.nan, math.inf, -math.inf]))
    fractional = st.floats(low, high).filter(lambda v: v != int(v)) if whole else st.nothing()
    other = st.one_of(st.text(max_size=20), st.none(), st.booleans(), st.lists(st.integers(), max_size=3))
    return st.one_of(outside, fractional, other)


@pytest.mark.parametrize("field", sorted(NUMBERS))
def test_any_value_outside_a_fields_range_is_refused_naming_the_range(field):
    message, low, high, whole = NUMBERS[field]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=not_allowed(low, high, whole))
    def check(value):
        values = dict(zip(("model", "sampler", "steps", "eta", "class_name", "guidance", "num_samples", "seed"),
                          ("moons", "ddim", 5, 0.0, "upper moon", 1.0, 20, 0)))
        with pytest.raises(RequestError) as error:
            validate_request(CACHE, **{**values, field: value})
        assert str(error.value).startswith(message) and len(str(error.value)) < 300

    check()


@settings(max_examples=80, deadline=None)
@given(model=st.text(max_size=200).filter(lambda m: m not in CACHE.names()))
def test_any_unknown_model_name_is_refused_listing_the_models(model):
    with pytest.raises(RequestError) as error:
        validate_request(CACHE, model, "ddim", 5, 0.0, "unconditional", 0.0, 20, 0)
    assert "choose one of: moons, emnist" in str(error.value) and len(str(error.value)) < 200


def test_the_validator_marks_the_bad_value_on_its_own_input():
    import asyncio
    import types

    from diffusion_core.demo.handlers import COMPARE_INPUTS, Handlers
    from diffusion_core.demo.requests import SAMPLE_INPUT_NAMES

    handlers = Handlers(standin_cache())
    request = types.SimpleNamespace(session_hash="s", client=None, headers={})

    def verdicts(admit, values):
        return [(v["is_valid"], v["message"]) for v in asyncio.run(admit(*values, request))]

    marked = verdicts(handlers.sample_admission(), sample(eta=1.5))
    assert [valid for valid, _ in marked].count(False) == 1
    assert marked[SAMPLE_INPUT_NAMES.index("eta")] == (False, "eta (η) must be a number from 0 to 1, got 1.5")
    shared = ["moons", "upper moon", 40, 2]
    side_b_bad = shared + ["ddpm", 10, 0.0, 0.0, "classifier-free", 0.0] + ["ddim", 0, 0.0, 3.0, "classifier-free", 0.0]
    marked = verdicts(handlers.compare_admission(), side_b_bad)
    assert marked[COMPARE_INPUTS.index("b_steps")] == (False, "steps must be a whole number from 1 to 1000, got 0")
    side_a_bad = shared + ["nope", 10, 0.0, 0.0, "classifier-free", 0.0] + ["ddim", 10, 0.0, 3.0, "classifier-free", 0.0]
    assert not verdicts(handlers.compare_admission(), side_a_bad)[COMPARE_INPUTS.index("sampler")][0]


def test_a_model_not_loaded_yet_is_left_to_the_handler():
    from diffusion_core.demo.cache import ModelCache
    from diffusion_core.demo.handlers import Handlers

    cache = ModelCache()  # the shipped checkpoints, none loaded yet
    handlers = Handlers(cache)
    handlers.check_sample(sample(steps=0))  # the validator must not load a model on the event loop
    assert not cache.loaded("moons")
    with pytest.raises(RequestError, match="unknown model 'nope'"):
        handlers.check_sample(sample(model="nope"))
