"""The run, in plain words: what ran, how long it took, the seed to repeat it, how good the samples are.

The app shows these Markdown lines above the raw JSON summary (which API clients read):
`result_card` for a finished run, `progress_card` while one plays, `stopped_card` after Stop,
`estimate_line` under the Run button before one starts.
"""

from __future__ import annotations

from ..samplers import sampler_label

# The sliced-Wasserstein ratio: about 1 for samples as close to the data as a fresh draw of it.
SW_AS_GOOD = 1.3
SW_CLOSE = 2.0
# The stray share: 1% for a fresh draw of the data by construction; 2% still reads as clean.
STRAYS_AS_FEW = 0.02


def setting_words(summary: dict) -> str:
    """'DDIM, 50 steps, upper moon, w = 3': the sampler setting of a run's summary."""
    words = [f"{sampler_label(summary['sampler'])}, {summary['steps']} steps"]
    calls = summary.get("model_calls")
    if calls is not None and calls != summary["steps"]:
        words[0] += f" ({calls} network calls)"
    if summary.get("eta"):
        words.append(f"η = {summary['eta']:g}")
    if summary.get("class", "unconditional") != "unconditional":
        kind = summary.get("guidance_kind", "classifier-free")
        if kind == "classifier":
            words.append(f"class {summary['class']}, classifier guidance s = {summary['classifier_scale']:g}")
        elif kind == "both":
            words.append(f"class {summary['class']}, w = {summary['guidance']:g} and classifier s = "
                         f"{summary['classifier_scale']:g}")
        else:
            words.append(f"class {summary['class']}, w = {summary['guidance']:g}")
    if summary.get("variance") == "learned":
        words.append("learned Σ")
    elif summary.get("variance") == "fixed_large":
        words.append("Σ = β")
    return ", ".join(words)


def points_quality_words(quality: dict, class_name: str, guidance: float) -> list[str]:
    """The 2D quality meter as sentences a non-programmer reads."""
    lines = []
    ratio = quality.get("sw_ratio")
    whose = "real data" if class_name == "unconditional" else f"real {class_name} data"
    if ratio is not None:
        if ratio <= SW_AS_GOOD:
            lines.append(f"**As close to {whose} as a fresh sample of it would be** "
                         f"(sliced-Wasserstein ratio {ratio:.2f}; 1 means indistinguishable).")
        elif ratio <= SW_CLOSE:
            lines.append(f"**Close to {whose}**, a little more spread or thinner than it "
                         f"(sliced-Wasserstein ratio {ratio:.2f}; 1 means indistinguishable).")
        elif guidance > 0:
            lines.append(f"**Guidance crowded the samples into part of the shape**: {ratio:.1f}× as far from "
                         f"{whose} as a fresh sample is (sliced-Wasserstein ratio). Lower w spreads them out.")
        else:
            lines.append(f"**Visibly off the data**: {ratio:.1f}× as far from {whose} as a fresh sample is "
                         "(sliced-Wasserstein ratio); more steps usually bring it closer.")
    strays = quality.get("strays")
    if strays is not None:
        verdict = "as few as in a fresh sample of the data" if strays <= STRAYS_AS_FEW else "off the data"
        lines.append(f"{100 * strays:.1f}% of the points are strays, {verdict} (a fresh sample: 1%; a stray lies "
                     "farther from the nearest data point than 99% of real points do).")
    conformity = quality.get("class_conformity")
    if conformity is not None:
        lines.append(f"{100 * conformity:.0f}% of the points lie nearest to {class_name} data.")
    return lines


def characters_quality_words(quality: dict, class_name: str) -> list[str]:
    """The EMNIST quality meter as sentences: what the project's classifier reads in the characters."""
    read = ", ".join(f"'{name}' ×{count}" for name, count in quality.get("read_as", {}).items())
    lines = [f"The project's character classifier reads them as {read}." if read else ""]
    conformity = quality.get("class_conformity")
    if conformity is not None:
        lines.append(f"**{100 * conformity:.0f}% read as '{class_name}'** (either case for letters whose cases "
                     "look alike).")
    if "diversity" in quality:
        lines.append(f"Diversity {quality['diversity']:.1f} (real characters of one class: about 22; "
                     "guidance lowers it).")
    return [line for line in lines if line]


def result_card(summary: dict, model_label: str) -> str:
    """A finished run in plain words (Markdown)."""
    what = "points" if len(summary["sample_shape"]) == 2 else "characters"
    lines = [
        f"**Finished**: {model_label} · {setting_words(summary)} · {summary['num_samples']} {what}",
        f"{summary['elapsed_s']:.2f} s in all ({summary['sampling_s']:.2f} s sampling) · seed **{summary['seed']}** "
        "(the same seed draws the same samples)",
    ]
    quality = summary.get("quality")
    if quality and what == "points":
        lines += points_quality_words(quality, summary["class"], summary["guidance"])
    elif quality:
        lines += characters_quality_words(quality, summary["class"])
    return "\n\n".join(lines)


def progress_card(progress: dict) -> str:
    """A run in progress: how far it has got."""
    return (f"**Sampling…** step {progress['step']} of {progress['num_steps']} (t = {progress['t']}), "
            f"{progress['elapsed_s']:.1f} s so far")


def stopped_card(progress: dict | None) -> str:
    """After Stop: where the run was (its last frame stays on the canvas)."""
    if not isinstance(progress, dict) or progress.get("status") != "sampling":
        return "**Stopped.**"
    return (f"**Stopped at step {progress['step']} of {progress['num_steps']}** (t = {progress['t']}); "
            "the canvas keeps the last frame. Press Run to start again.")


def estimate_line(seconds: float) -> str:
    """Under the Run button: how long the chosen run will take here."""
    if seconds < 1:
        return "This run takes well under a second here."
    return f"This run takes about {seconds:.0f} s here; the canvas shows it as it goes."
