"""``--push-to-hub``: upload a finished build folder to a Hugging Face dataset repository.

This path cannot be exercised on a machine without Hub access (the project's CI has none), so it
is kept to two documented ``huggingface_hub`` calls and has no test that pretends otherwise.
"""

from __future__ import annotations

from pathlib import Path

UPLOAD_IGNORE = [".*", ".*/**", "**/.*", "**/.*/**", "labelstudio/**", "eval/**"]
"""Never uploaded: every hidden file or folder at any depth: the resume state (``.paqa_state``),
the writer lock (``.paqa_lock``) and temporary files a killed run left (``.name.tmp-PID``); and the
local audit work: a Label Studio export (a second copy of the audio) and ``paqa-build eval`` output
(it names folders of this machine). The viewer (``view/``) is uploaded: the card links it."""


def push_folder(out: str | Path, repo_id: str, private: bool = False) -> str:
    """Create ``repo_id`` (dataset) if needed and upload ``out`` without hidden files (``UPLOAD_IGNORE``)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(out),
                      ignore_patterns=UPLOAD_IGNORE,
                      commit_message="Upload PAQA dataset built with paqa-build")
    return f"https://huggingface.co/datasets/{repo_id}"
