"""Checks that a Hub-hosted model can be loaded, run by ``Stage.check_available`` before any audio.

Each helper either returns quietly or raises ``RuntimeError`` with one line that says what is
missing and what to do about it. They look only at the local Hugging Face cache and at
environment variables, except ``require_hf_model`` when the Hub is allowed: then it asks the Hub
once whether the repository exists and the token may read it, so a gated pyannote model fails
now rather than after the first batch.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for no network."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hf_token() -> str | None:
    """The Hugging Face token: ``HF_TOKEN`` first, then the one saved by ``hf auth login``."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # noqa: BLE001 - an unreadable token file is the same as no token
        return None


def is_local(ref: str | os.PathLike[str]) -> bool:
    """True when ``ref`` names an existing file or folder (as opposed to a Hub repository id)."""
    return Path(os.path.expanduser(str(ref))).exists()


def looks_like_path(ref: str) -> bool:
    """True when ``ref`` is written as a path (``./x``, ``/x``, ``~/x``, ``x.yaml``), not ``org/name``."""
    return ref.startswith((".", "/", "~")) or ref.endswith((".yaml", ".yml"))


def cached_file(repo_id: str, filename: str, revision: str | None = None) -> str | None:
    """Path of ``filename`` of ``repo_id`` in the local HF cache, or None when not cached."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    # try_to_load_from_cache returns a sentinel object (not a str) for "known to be missing".
    return found if isinstance(found, str) else None


def missing_files(repo_id: str, groups: list[tuple[str, ...]], revision: str | None = None) -> list[str]:
    """Files not in the cache; each group is satisfied by any one of its names (e.g. weights formats)."""
    return [
        " or ".join(group)
        for group in groups
        if not any(cached_file(repo_id, name, revision) for name in group)
    ]


def require_local_path(ref: str, what: str, must_contain: tuple[str, ...] = ()) -> Path:
    """``ref`` as a path that exists and holds every name in ``must_contain`` (when a folder)."""
    path = Path(os.path.expanduser(ref))
    if not path.exists():
        raise RuntimeError(f"{what}: {path} does not exist; give an existing local path or a Hub id.")
    if path.is_dir():
        absent = [name for name in must_contain if not (path / name).exists()]
        if absent:
            raise RuntimeError(f"{what}: {path} lacks {', '.join(absent)}; point it at a complete model folder.")
    return path


def require_hf_model(
    repo_id: str,
    what: str,
    groups: list[tuple[str, ...]],
    gated: bool = False,
    token: str | None = None,
    revision: str | None = None,
    local_hint: str = "set the stage's model to a local folder",
) -> None:
    """Raise one actionable line unless ``repo_id`` is cached or can be downloaded now.

    ``what`` names the stage/backend in the message (``"diarize:pyannote"``); ``groups`` lists the
    files the loader needs (see ``missing_files``); ``gated`` marks repositories that need an
    accepted licence and a token; ``local_hint`` tells how to point the stage at a local copy.
    """
    absent = missing_files(repo_id, groups, revision)
    if not absent:
        return
    if hub_offline():
        accept = f" (after accepting its conditions at https://huggingface.co/{repo_id})" if gated else ""
        raise RuntimeError(
            f"{what}: model {repo_id} is not in the local Hugging Face cache (missing {absent[0]}) "
            f"and HF_HUB_OFFLINE is set; run `hf download {repo_id}`{accept} on a machine with Hub "
            f"access, or {local_hint}."
        )
    token = token or hf_token()
    if gated and not token:
        raise RuntimeError(
            f"{what}: {repo_id} is gated; accept its conditions at https://huggingface.co/{repo_id} "
            f"and export HF_TOKEN=<your token> (or run `hf auth login`)."
        )
    _probe_hub(repo_id, what, token, revision)


def _probe_hub(repo_id: str, what: str, token: str | None, revision: str | None) -> None:
    """Ask the Hub once whether ``repo_id`` exists and ``token`` may read it."""
    from huggingface_hub import auth_check
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        auth_check(repo_id, token=token)
    except GatedRepoError:
        raise RuntimeError(
            f"{what}: your token may not read the gated {repo_id}; accept its conditions at "
            f"https://huggingface.co/{repo_id} with the account of HF_TOKEN."
        ) from None
    except RepositoryNotFoundError:
        raise RuntimeError(
            f"{what}: {repo_id} does not exist on the Hub (or is private to another account); "
            f"check the model name in the recipe."
        ) from None
    except Exception as exc:  # noqa: BLE001 - network failures: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"{what}: cannot reach the Hugging Face Hub to fetch {repo_id} ({first}); "
            f"download it where the Hub is reachable, then run with HF_HUB_OFFLINE=1."
        ) from None


def resolve_device(device: str | None) -> str:
    """``"cuda"`` when asked for ``"auto"``/None and a GPU is visible, else ``"cpu"``; other values pass."""
    if device not in (None, "", "auto"):
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
