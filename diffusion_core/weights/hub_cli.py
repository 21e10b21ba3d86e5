"""Command-line glue for `diffusion_core.hub`: the `push` and `pull` subcommands and `train --push-to-hub`.

    parser:  register_hub_commands(subparsers); add_push_to_hub_argument(train_parser)
    main:    "push" -> run_push(args); "pull" -> run_pull(args); after training -> push_trained(folder, args)

Each `run_*` prints one line per result (errors on stderr) and returns the exit status:
0 done, 1 the Hub failed or refused, 2 a local checkpoint is invalid. No token is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .hub import HubError, PushResult, install_pulled, list_models, pull, push_all, push_checkpoint
from .hub_guides import install_guide
from .pipeline import CHECKPOINTS_DIR, resolve_checkpoint

TOKEN_HELP = "The token comes from $HF_TOKEN or `hf auth login`; $HF_ENDPOINT and $HF_HUB_OFFLINE are honoured."


def register_hub_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `push` and `pull` to a parser's subcommands."""
    p = subparsers.add_parser(
        "push", help="upload a checkpoint to a Hub repo",
        description="Upload checkpoints/NAME (or every checkpoint, with NAME 'all') to the subfolder NAME of a Hub "
        "model repo, creating the repo if missing. " + TOKEN_HELP,
    )
    p.add_argument("name", help="a name in --root, a checkpoint folder, or 'all'")
    p.add_argument("--repo-id", required=True, help="USER/REPO on the Hub")
    p.add_argument("--revision", help="branch to commit to, created from main if missing (default main)")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo is left as is)")
    p.add_argument("--root", default=str(CHECKPOINTS_DIR), help="folder of checkpoints (default checkpoints/)")

    p = subparsers.add_parser(
        "pull", help="download checkpoints from a Hub repo",
        description="Download models from a Hub repo at a revision (pin a commit SHA for reproducible runs), "
        "validate them strictly and install them in --into, replacing each folder atomically. " + TOKEN_HELP,
    )
    p.add_argument("--repo-id", required=True, help="USER/REPO on the Hub")
    p.add_argument("--revision", help="branch, tag or commit SHA (default main)")
    p.add_argument("--name", action="append", help="a model (subfolder) to pull; repeat it; default: every model")
    p.add_argument("--into", default=str(CHECKPOINTS_DIR), help="folder receiving NAME/ (default checkpoints/)")
    p.add_argument("--cache-dir", help="Hub cache folder (default: $HF_HUB_CACHE, ~/.cache/huggingface/hub)")


def add_push_to_hub_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--push-to-hub USER/REPO` (and `--hub-revision`, `--private`) to the `train` parser."""
    parser.add_argument("--push-to-hub", metavar="USER/REPO", help="upload the trained checkpoint to this Hub repo")
    parser.add_argument("--hub-revision", help="branch for --push-to-hub (default main)")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")


def _report_push(result: PushResult) -> None:
    print(f"pushed {', '.join(result.names)} to {result.repo_id}@{result.revision}: commit {result.commit}")
    print(f"  {result.url}")
    print(f"  pin this version with --revision {result.commit}")


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1 if isinstance(error, HubError) else 2


def run_push(args: argparse.Namespace) -> int:
    """`push NAME --repo-id USER/REPO [--revision BRANCH] [--private]`."""
    try:
        if args.name == "all":
            result = push_all(args.root, args.repo_id, revision=args.revision, private=args.private)
        else:
            folder = resolve_checkpoint(args.name, Path(args.root))
            result = push_checkpoint(folder, args.repo_id, revision=args.revision, private=args.private)
    except CheckpointError as error:
        return _fail(error)
    _report_push(result)
    return 0


def push_trained(folder: Path, args: argparse.Namespace) -> int:
    """After `train ... --push-to-hub USER/REPO`: push the folder just written; 0 when there is nothing to do."""
    if not args.push_to_hub:
        return 0
    try:
        result = push_checkpoint(folder, args.push_to_hub, revision=args.hub_revision, private=args.private)
    except CheckpointError as error:
        return _fail(error)
    _report_push(result)
    return 0


def run_pull(args: argparse.Namespace) -> int:
    """`pull --repo-id USER/REPO [--revision REV] [--name NAME ...] [--into checkpoints/]`."""
    try:
        names = args.name or list_models(args.repo_id, revision=args.revision, cache_dir=args.cache_dir)
    except CheckpointError as error:
        return _fail(error)
    if not names:
        print(f"error: {args.repo_id}@{args.revision or 'main'} holds no model folder (NAME/config.json)", file=sys.stderr)
        return 1
    status = 0
    for name in names:
        try:
            pulled = pull(args.repo_id, name, revision=args.revision, cache_dir=args.cache_dir)
            target = install_pulled(pulled.folder, args.into)
        except CheckpointError as error:
            status = max(status, _fail(error))
            continue
        note = " (from the cache: the Hub could not be reached)" if pulled.from_cache_only else ""
        print(f"pulled {name} from {args.repo_id}@{pulled.commit} into {target}{note}; "
              + install_guide(pulled.folder, target))
    return status
