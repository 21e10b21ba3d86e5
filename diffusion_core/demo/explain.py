"""The app's explanation panel: the equations of the chosen sampler and guidance, with the chosen numbers.

`explanation(...)` returns Markdown with LaTeX between $$ … $$ (display) and $ … $
(inline), which the app renders. Each paragraph follows the controls: the sampler's
update rule (DDPM's ancestral step, Ho et al. 2020, Algorithm 2; DDIM's eq. 12,
Song et al. 2021), whether the schedule is respaced, what η does, and what the
guidance weight does to the prediction (Ho & Salimans 2022).
"""

from __future__ import annotations

from ..samplers import model_calls

FORWARD = (
    "**The forward process** adds Gaussian noise for $T = {T}$ steps, so any $x_t$ can be drawn in one go: "
    "$$x_t = \\sqrt{{\\bar\\alpha_t}}\\,x_0 + \\sqrt{{1-\\bar\\alpha_t}}\\,\\varepsilon, "
    "\\quad \\varepsilon \\sim \\mathcal N(0, I).$$ "
)

# What the network outputs, and how the sampler turns it into the two quantities every update reads,
# x̂0 and ε̂ (`parameterization.to_x0_eps`); each is affine in the others given x_t and t.
PREDICTIONS = {
    "epsilon": (
        "This network predicts **the noise** $\\hat\\varepsilon(x_t, t, c)$ (DDPM's choice, Ho et al. 2020); "
        "the sampler reads from it the guess of the clean sample "
        "$$\\hat x_0 = \\frac{{x_t - \\sqrt{{1-\\bar\\alpha_t}}\\,\\hat\\varepsilon}}{{\\sqrt{{\\bar\\alpha_t}}}},$$ "
        "which divides by $\\sqrt{{\\bar\\alpha_t}}$: near $t = T$ a small error in $\\hat\\varepsilon$ "
        "becomes a large one in $\\hat x_0$, which is why $\\hat x_0$ is clipped to the data's range."
    ),
    "sample": (
        "This network predicts **the clean sample** $\\hat x_0(x_t, t, c)$ directly; the sampler reads the "
        "noise from it, $$\\hat\\varepsilon = \\frac{{x_t - \\sqrt{{\\bar\\alpha_t}}\\,\\hat x_0}}"
        "{{\\sqrt{{1-\\bar\\alpha_t}}}},$$ which divides by $\\sqrt{{1-\\bar\\alpha_t}}$: near $t = 0$ "
        "a small error in $\\hat x_0$ becomes a large one in $\\hat\\varepsilon$, the mirror image of "
        "$\\varepsilon$-prediction's trouble near $t = T$."
    ),
    "v_prediction": (
        "This network predicts **the velocity** $\\hat v \\approx \\sqrt{{\\bar\\alpha_t}}\\,\\varepsilon - "
        "\\sqrt{{1-\\bar\\alpha_t}}\\,x_0$ (Salimans & Ho 2022); the sampler reads both quantities from it "
        "without dividing by anything: $$\\hat x_0 = \\sqrt{{\\bar\\alpha_t}}\\,x_t - "
        "\\sqrt{{1-\\bar\\alpha_t}}\\,\\hat v, \\qquad \\hat\\varepsilon = \\sqrt{{1-\\bar\\alpha_t}}\\,x_t + "
        "\\sqrt{{\\bar\\alpha_t}}\\,\\hat v,$$ so its errors stay the same size at both ends of the schedule."
    ),
}

SCORE = (
    "Whatever it predicts, the network is a **score model** in disguise (Song & Ermon's view): the gradient "
    "of the log-density of the noised data is $$\\nabla_{{x_t}} \\log p_t(x_t) \\approx "
    "-\\frac{{\\hat\\varepsilon}}{{\\sqrt{{1-\\bar\\alpha_t}}}},$$ the direction the field view's arrows show for a 2D model."
)

DDPM = (
    "**DDPM** takes a random step towards the posterior mean: "
    "$$x_{{t-1}} = \\frac{{1}}{{\\sqrt{{\\alpha_t}}}}\\Big(x_t - \\frac{{\\beta_t}}{{\\sqrt{{1-\\bar\\alpha_t}}}}"
    "\\,\\hat\\varepsilon\\Big) + \\sigma_t z, \\quad z \\sim \\mathcal N(0, I),\\ \\sigma_t^2 = \\tilde\\beta_t.$$ "
)

DDIM = (
    "**DDIM** moves $x_t$ to the previous timestep $s$ of its list using the same prediction: "
    "$$x_s = \\sqrt{{\\bar\\alpha_s}}\\,\\hat x_0 + \\sqrt{{1-\\bar\\alpha_s-\\sigma^2}}\\,\\hat\\varepsilon + \\sigma z,"
    "\\quad \\sigma = \\eta\\sqrt{{\\tfrac{{1-\\bar\\alpha_s}}{{1-\\bar\\alpha_t}}}}"
    "\\sqrt{{1-\\tfrac{{\\bar\\alpha_t}}{{\\bar\\alpha_s}}}}.$$ "
)

# The solvers read x̃ = x_t/√ᾱ_t = x₀ + σε (σ-space, Karras et al. 2022) or the log-SNR λ (Lu et al. 2022).
SIGMA_SPACE = (
    "Written in $\\tilde x = x_t/\\sqrt{{\\bar\\alpha_t}}$, with noise level "
    "$\\sigma_t = \\sqrt{{(1-\\bar\\alpha_t)/\\bar\\alpha_t}}$, sampling is the **probability-flow ODE** "
    "$$\\frac{{d\\tilde x}}{{d\\sigma}} = \\hat\\varepsilon(x_t, t),$$ and DDIM with $\\eta = 0$ is exactly "
    "Euler's method on it. "
)
SOLVERS = {
    "dpmpp_2m": (
        "**DPM-Solver++(2M)** (Lu et al. 2022), in the log-SNR $\\lambda_t = \\log(\\sqrt{{\\bar\\alpha_t}}/"
        "\\sqrt{{1-\\bar\\alpha_t}})$, where the ODE's linear part integrates exactly: with $h = \\lambda_s - "
        "\\lambda_t$, $$x_s = \\frac{{\\sqrt{{1-\\bar\\alpha_s}}}}{{\\sqrt{{1-\\bar\\alpha_t}}}}\\,x_t + "
        "\\sqrt{{\\bar\\alpha_s}}\\,(1 - e^{{-h}})\\,D,\\quad D = \\Big(1 + \\tfrac{{1}}{{2r}}\\Big)\\hat x_0^{{(t)}} "
        "- \\tfrac{{1}}{{2r}}\\,\\hat x_0^{{(t')}},$$ with $r$ the ratio of the previous step's $h$ to this one's: "
        "the data prediction extrapolated from the last step, so second order for one network call per step "
        "(first order, $D = \\hat x_0$, on the first and the last step)."
    ),
    "heun": (
        "**Heun's method** (Karras et al. 2022, Algorithm 1): an Euler step to $\\sigma_s$, "
        "$\\tilde x' = \\tilde x + (\\sigma_s - \\sigma_t)\\,\\hat\\varepsilon_t$, then the slope there and "
        "the average of the two, $$\\tilde x_s = \\tilde x + (\\sigma_s - \\sigma_t)\\,"
        "\\tfrac{{1}}{{2}}\\big(\\hat\\varepsilon_t + \\hat\\varepsilon_s(\\tilde x')\\big):$$ second order for "
        "**two network calls per step** (one on the last step, to $\\sigma = 0$, and from $\\sigma > 80$, where "
        "Euler's step is already exact)."
    ),
    "euler_ancestral": (
        "**Euler ancestral** (k-diffusion): a deterministic Euler step down to $\\sigma_{{\\downarrow}} = "
        "\\sigma_s^2/\\sigma_t$, then fresh noise of $\\sigma_{{\\uparrow}} = \\sigma_s\\sqrt{{1 - \\sigma_s^2/"
        "\\sigma_t^2}}$: $$\\tilde x_s = \\hat x_0 + \\sigma_{{\\downarrow}}\\,\\hat\\varepsilon + "
        "\\sigma_{{\\uparrow}}\\,z.$$ Its $\\sigma_{{\\uparrow}}^2$ is DDPM's posterior variance in these units, so "
        "it is DDPM's step (and DDIM's with $\\eta = 1$) written in $\\sigma$: the same samples from the same noise."
    ),
}

GUIDANCE = (
    "**Classifier-free guidance** mixes the class-conditional and the unconditional prediction of the same "
    "network: $$\\tilde\\varepsilon = (1 + w)\\,\\hat\\varepsilon(x_t, c) - w\\,\\hat\\varepsilon(x_t, \\varnothing).$$ "
)


def _steps_sentence(sampler: str, steps: int, num_train_steps: int) -> str:
    if steps >= num_train_steps:
        return f"All {num_train_steps} steps are used, one per timestep."
    stride = num_train_steps / steps
    if sampler == "ddpm":
        return (
            f"With {steps} of {num_train_steps} steps the schedule is **respaced** (Improved DDPM): the kept "
            f"timesteps (about every {stride:.0f}th) get new $\\beta$'s, "
            "$\\beta_i = 1 - \\bar\\alpha_{t_i}/\\bar\\alpha_{t_{i-1}}$, so the shortened chain ends at the same noise level."
        )
    return f"With {steps} of {num_train_steps} steps each update jumps about {stride:.0f} timesteps at once."


def _eta_sentence(eta: float) -> str:
    if eta == 0:
        return "With $\\eta = 0$ the update is **deterministic**: the same starting noise always gives the same sample."
    if eta == 1:
        return "With $\\eta = 1$ it adds as much fresh noise as DDPM does (on the full schedule it *is* DDPM)."
    return f"With $\\eta = {eta:g}$ it adds part of DDPM's fresh noise: between deterministic DDIM and DDPM."


def _guidance_sentence(class_name: str | None, guidance: float) -> str:
    if class_name is None:
        return (
            "No class is chosen, so the network is asked for the **unconditional** prediction "
            "$\\hat\\varepsilon(x_t, \\varnothing)$ (the null label it learned from training examples whose "
            "label was dropped) and the guidance weight does nothing."
        )
    if guidance == 0:
        return (
            GUIDANCE + f"Here $w = 0$: plain conditional sampling of class **{class_name}**, one network call per step."
        )
    return (
        GUIDANCE
        + f"Here $w = {guidance:g}$ for class **{class_name}**: the step is pushed {guidance:g}× further along the "
        "difference between the two predictions, towards samples an implicit classifier is surer about, at the "
        "cost of variety. Both predictions come from one batched call of twice the size."
    )


CLASSIFIER = (
    "**Classifier guidance** (Dhariwal & Nichol 2021) steers with a separately trained noise-aware "
    "classifier $p_\\phi(y \\mid x_t)$ instead: DDPM shifts its mean, "
    "$$\\tilde\\mu = \\mu_\\theta(x_t) + s\\,\\Sigma_t\\,\\nabla_{{x_t}} \\log p_\\phi(y \\mid x_t),$$ "
    "and DDIM and the ODE solvers correct the noise prediction, "
    "$$\\tilde\\varepsilon = \\hat\\varepsilon(x_t) - \\sqrt{{1-\\bar\\alpha_t}}\\,s\\,"
    "\\nabla_{{x_t}} \\log p_\\phi(y \\mid x_t).$$ "
    "Classifier-free guidance is the same correction with the network's own, implicit classifier: "
    "$\\nabla \\log p(y \\mid x_t) = -\\big(\\hat\\varepsilon(x_t, c) - \\hat\\varepsilon(x_t, \\varnothing)\\big)"
    "/\\sqrt{{1-\\bar\\alpha_t}}$, so its $w$ plays the part of $s$. "
)
LEARNED_VARIANCE = (
    "This model **learned its variance** (Improved DDPM): beside $\\hat\\varepsilon$ the network outputs $v$, and "
    "$$\\sigma_t^2 = \\Sigma_\\theta = \\exp\\big(v \\log \\beta_t + (1 - v) \\log \\tilde\\beta_t\\big),$$ "
    "trained on $L_{{\\text{{simple}}}} + 0.001\\,L_{{\\text{{vlb}}}}$; on fewer steps $v$ interpolates between "
    "the respaced $\\beta$ and $\\tilde\\beta$."
)


def _classifier_sentence(class_name: str, kind: str, guidance: float, scale: float) -> str:
    if kind == "classifier":
        return (CLASSIFIER.format() + f"Here the **unconditional** network is steered toward **{class_name}** with "
                f"$s = {scale:g}$, $w$ unused: one network call and one pass of the classifier, forward and backward, "
                "per step.")
    return (GUIDANCE + CLASSIFIER.format() + f"Here both: $w = {guidance:g}$ on the conditional network and "
            f"$s = {scale:g}$ from the classifier, toward **{class_name}**.")


def explanation(
    sampler: str,
    steps: int,
    eta: float,
    class_name: str | None,
    guidance: float,
    num_train_steps: int,
    kind: str = "points",
    calls: int | None = None,
    prediction: str = "epsilon",
    guidance_kind: str = "classifier-free",
    classifier_scale: float = 0.0,
    variance: str | None = None,
) -> str:
    """Markdown (with LaTeX) explaining the run these controls describe; `calls`: its network
    evaluations where the caller knows them exactly (see `samplers.model_calls`); `prediction`:
    the model's output ("epsilon", "sample" or "v_prediction"); `guidance_kind` and `classifier_scale`
    as in `requests.SampleRequest`; `variance`: DDPM's Σ ("learned" explains Improved DDPM's)."""
    sampler = sampler.lower()
    if sampler in SOLVERS:
        rule = SIGMA_SPACE.format() + SOLVERS[sampler].format()
    else:
        rule = DDPM.format() if sampler == "ddpm" else DDIM.format() + _eta_sentence(eta)
        if sampler == "ddpm" and variance == "learned":
            rule += LEARNED_VARIANCE.format()
        elif sampler == "ddpm" and variance == "fixed_large":
            rule += "Here $\\sigma_t^2 = \\beta_t$ (DDPM's other choice, fixed_large) instead of $\\tilde\\beta_t$."
    start = "Gaussian noise $x_T$" + (" (one 2D point per sample)" if kind == "points" else " (one 28×28 image per character)")
    calls = model_calls(sampler, steps) if calls is None else calls
    cost = (f"This run costs **{calls} network calls** (NFE) for {steps} steps: the cost to compare samplers by."
            if calls != steps else f"One network call per step: **{calls} calls** (NFE) in all.")
    parts = [
        FORWARD.format(T=num_train_steps) + PREDICTIONS.get(prediction, PREDICTIONS["epsilon"]).format(),
        SCORE.format(),
        f"Sampling starts from pure {start} and applies, step by step, " + rule,
        _steps_sentence(sampler, steps, num_train_steps) + " " + cost,
        (_classifier_sentence(class_name, guidance_kind, guidance, classifier_scale)
         if class_name is not None and guidance_kind != "classifier-free" else _guidance_sentence(class_name, guidance)),
    ]
    return "\n\n".join(parts)


LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]
