"""A model's guide on the Hub: NAME-guide/ beside NAME/ in the repo, pushed with the model and pulled with it.

A push uploads the guide of every model it pushes (after loading it against the model, so a
guide a pull would refuse is never published); a pull downloads it in the same snapshot, so
`load_pipeline` finds it beside the model; `install_pulled` copies it beside the installed model.
A model without one travels alone, and a pulled guide that does not fit leaves the model usable.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .atomic import staged_folder
from .checkpoint import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, CheckpointError, load_config
from .guide import GUIDE_SUFFIX, guide_folder, load_guide
from .hub_checks import HubError

GUIDE_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)


def is_guide_name(name: str) -> bool:
    """Whether a repo folder NAME is a guide's (NAME-guide), not a model's."""
    return name.endswith(GUIDE_SUFFIX)


def guide_paths(name: str) -> list[str]:
    """The repo paths of model NAME's guide files."""
    return [f"{name}{GUIDE_SUFFIX}/{file}" for file in GUIDE_FILES]


def guide_uploads(model_folder: Path) -> list[tuple[str, Path]]:
    """(path in the repo, local file) of the guide beside `model_folder`, none without one; HubError if it
    does not load against the model."""
    folder = guide_folder(model_folder)
    if not folder.is_dir():
        return []
    try:
        load_guide(folder, load_config(model_folder))
    except CheckpointError as error:
        raise HubError(f"the guide beside {model_folder.name} would be refused by a pull, so nothing was pushed: "
                       f"{error}") from error
    return [(path, folder / file) for path, file in zip(guide_paths(model_folder.name), GUIDE_FILES)
            if (folder / file).is_file()]


def install_guide(pulled_model: Path, installed_model: Path) -> str:
    """Copy the guide pulled beside `pulled_model` next to `installed_model`, replacing any there atomically;
    one line saying what happened (an unfitting guide is left out, and the model keeps its old one)."""
    source, target = guide_folder(pulled_model), guide_folder(installed_model)
    if not (source / CONFIG_NAME).is_file():
        return f"no guide in the repo for {pulled_model.name}; " + (
            f"the local {target.name} stays" if target.is_dir() else "classifier guidance stays off for it")
    config = load_config(installed_model)
    try:
        load_guide(source, config)
        with staged_folder(target) as staging:
            for file in GUIDE_FILES:
                if (source / file).is_file():
                    shutil.copyfile(source / file, staging / file)  # follows the cache's symlinks
            load_guide(staging, config)
    except CheckpointError as error:
        return f"the repo's guide for {pulled_model.name} was not installed: {error}"
    return f"installed its guide as {target}"
