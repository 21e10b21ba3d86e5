"""The result card's plain words for the 2D quality meter: what each figure says, and where its verdicts turn."""

from diffusion_core.demo.result import SW_AS_GOOD, points_quality_words, result_card


def test_few_strays_read_as_clean_and_many_as_off_the_data():
    clean = " ".join(points_quality_words({"sw_ratio": 1.1, "strays": 0.012}, "unconditional", 0.0))
    assert "As close to real data" in clean and "1.2% of the points are strays, as few as in a fresh sample" in clean
    sprinkled = " ".join(points_quality_words({"sw_ratio": 1.1, "strays": 0.051}, "unconditional", 0.0))
    assert "5.1% of the points are strays, off the data" in sprinkled


def test_the_sw_verdict_turns_at_its_thresholds_and_blames_guidance_only_with_guidance():
    assert "As close" in points_quality_words({"sw_ratio": SW_AS_GOOD}, "unconditional", 0.0)[0]
    assert "Close to real upper moon data" in points_quality_words({"sw_ratio": 1.8}, "upper moon", 3.0)[0]
    assert "Guidance crowded" in points_quality_words({"sw_ratio": 19.9}, "upper moon", 3.0)[0]
    assert "Visibly off the data" in points_quality_words({"sw_ratio": 4.0}, "unconditional", 0.0)[0]


def test_a_finished_card_names_the_setting_the_time_the_seed_and_the_quality():
    summary = {"sample_shape": [2000, 2], "sampler": "ddim", "steps": 50, "eta": 0.0, "class": "upper moon",
               "guidance": 3.0, "num_samples": 2000, "elapsed_s": 0.21, "sampling_s": 0.12, "seed": 7,
               "quality": {"sw_ratio": 19.9, "strays": 0.004, "class_conformity": 1.0}}
    card = result_card(summary, "Two moons")
    assert card.startswith("**Finished**: Two moons · DDIM, 50 steps, class upper moon, w = 3 · 2000 points")
    assert "seed **7**" in card and "0.4% of the points are strays" in card and "100% of the points lie nearest" in card
