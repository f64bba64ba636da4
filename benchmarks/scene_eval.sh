#!/usr/bin/env bash
# Pipeline yardstick on mixed scenes: mix N scenes from espeak-ng speech + synthetic backgrounds,
# build them with the oracle profile (answer keys exact by construction: a self-check of the
# composer) and with the portable profile (real packaged models), evaluate both against the
# mixer's ground truth, and print the tables (markdown; paste the portable one into the README).
#
#   benchmarks/scene_eval.sh [OUT_DIR] [SCENES] [SEED]      defaults: out/scene_eval 60 0
#   PROFILE=paper benchmarks/scene_eval.sh ...               any shipped recipe name (paqa_builder/recipes/<PROFILE>.yaml)
#   BUILD_SET="stages.transcribe.beam_size=1" benchmarks/scene_eval.sh ...   extra --set overrides
#   VOICES=hybrid benchmarks/scene_eval.sh ...   3 Kokoro + 2 espeak-ng voices (VOICE_SETS in
#                                               paqa_builder/mixer/generate.py; needs [voices])
#   VOICES=kokoro benchmarks/scene_eval.sh ...   neural voices instead of espeak-ng (see
#                                               paqa_builder/mixer/synth_kokoro.py; needs the [voices] extra)
#   VOICES=flite benchmarks/scene_eval.sh OUT 60 1000   CMU Flite voices: a REPORT-group voice set
#   SPEECH=DIR GROUP=report benchmarks/scene_eval.sh OUT 60 1000   a recorded speech corpus (e.g.
#                                               benchmarks/real_voices.py's speech/), one group only
#
# Held-out protocol (paqa_builder/mixer/heldout.py): tune voice sets (espeak, kokoro, hybrid) take
# seeds < 1000, report voices (flite, report speakers of a recorded corpus) seeds >= 1000; the mixer
# refuses anything else, and the eval report's first row names the group. Quote report rows only.
#
# The mixed scenes are English only, so the profile build forces stages.transcribe.language=en
# (a recipe override for this benchmark, not a code default: real collections are multilingual;
# left to detection, Whisper base heard one espeak scene in 60 as Welsh).
#
# Offline: no step downloads anything. Everything lands under OUT_DIR (scenes/, oracle/, built/).
set -euo pipefail
OUT=${1:-out/scene_eval}
SCENES=${2:-60}
SEED=${3:-0}
PROFILE=${PROFILE:-portable}
VOICES=${VOICES:-espeak}
# The scenes are English, and the mixer labels every background it placed (labels exhaustive).
SETS=(--set stages.transcribe.language=en --set stages.compose.labels_exhaustive=true)
for kv in ${BUILD_SET:-}; do SETS+=(--set "$kv"); done
export HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=false TOKENIZERS_PARALLELISM=false
cd "$(dirname "$0")/.."
if command -v paqa-build >/dev/null 2>&1; then PB=(paqa-build); else PB=(python -m paqa_builder.cli); fi

rm -rf "$OUT/scenes" "$OUT/oracle" "$OUT/built"
mkdir -p "$OUT"
t0=$(date +%s)
if [ -n "${SPEECH:-}" ]; then
  SPEECH_ARGS=(--speech "$SPEECH")
  VOICES=$(basename "$SPEECH")
else
  SPEECH_ARGS=(--generate-speech --voices "$VOICES")
fi
[ -n "${GROUP:-}" ] && SPEECH_ARGS+=(--group "$GROUP")
"${PB[@]}" mix "${SPEECH_ARGS[@]}" --generate-backgrounds --out "$OUT/scenes" \
  --scenes "$SCENES" --seed "$SEED"
t1=$(date +%s)
"${PB[@]}" --source "$OUT/scenes" --recipe oracle --out "$OUT/oracle"
"${PB[@]}" eval --truth "$OUT/scenes" --built "$OUT/oracle" --out "$OUT/oracle/eval" > "$OUT/oracle_table.md"
t2=$(date +%s)
"${PB[@]}" --source "$OUT/scenes" --recipe "$PROFILE" --out "$OUT/built" "${SETS[@]}"
t3=$(date +%s)
"${PB[@]}" eval --truth "$OUT/scenes" --built "$OUT/built" --out "$OUT/built/eval" > "$OUT/${PROFILE}_table.md"
t4=$(date +%s)

echo
echo "## Oracle profile ($SCENES scenes, seed $SEED, $VOICES voices): composer self-check"
cat "$OUT/oracle_table.md"
echo
echo "## $PROFILE profile ($SCENES scenes, seed $SEED, $VOICES voices, ${SETS[*]}) vs mixer ground truth"
cat "$OUT/${PROFILE}_table.md"
echo
echo "wall seconds: mix $((t1 - t0)), oracle build+eval $((t2 - t1)), $PROFILE build $((t3 - t2)), eval $((t4 - t3))"
echo "reports: $OUT/oracle/eval/report.md  $OUT/built/eval/report.md"
