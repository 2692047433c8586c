#!/usr/bin/env bash
# Re-render every picture the README and the docs show that the built-in models make, from the
# models installed now (run it after tools/package_builtin.sh; each picture says in its caption
# what it is: procedural mgpe-synth faces, or the astronaut photo that scikit-image ships):
#
#   tools/render_figures.sh [OLD_MODEL_FOLDER]
#
# - docs/images/demo/*.png                     mgpe demo (the README's first pictures)
# - docs/images/looks/mgpe-synth-128.png       close-ups at 3x; with OLD_MODEL_FOLDER (a copy of
#                                              the model shipped before) a before / after pair
# - docs/images/looks/seam_cases_edit_mask.png with OLD_MODEL_FOLDER: edit-mask where the plain
#                                              seam score rose most against that model
# - docs/images/looks/background_fill.png      edit-mask where the new mask uncovers background
# - docs/images/looks/colour_match.png         edits without and with tone matching at the blend
# - docs/images/looks/style_match.png          restyled lips and eyes: generator's colours / matched
# - docs/images/looks/restyled_fringe.png      hair restyled: the fringe kept / recoloured
# - docs/images/looks/whole_part.png           reshaped mouths and eyes: changed pixels / whole
# - docs/images/photos/astronaut_edits.png     edits of a real photo, pasted back
# - docs/images/photos/parsers_on_astronaut.png  the built-in parser vs the landmark parser
# - docs/images/serve/*.png                    the browser editor (needs chromium + driver)
#
# Needs the dev, photos and serve extras (./dev setup). Each step writes its files atomically,
# so a failed step leaves the pictures before it replaced and the rest as they were.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY=${PYTHON:-$ROOT/.venv/bin/python}
MGPE=${MGPE:-$ROOT/.venv/bin/mgpe}
OLD=${1:-}
step() { printf '\n== %s\n' "$*" >&2; }

step "mgpe demo -> docs/images/demo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$MGPE" demo -o "$tmp/demo"
for f in mask_to_face component_edits style_transfer eye_mask_variant; do
  cp "$tmp/demo/$f.png" "docs/images/demo/.$f.png.tmp" && mv "docs/images/demo/.$f.png.tmp" "docs/images/demo/$f.png"
done

step "close-ups -> docs/images/looks/mgpe-synth-128.png"
if [ -n "$OLD" ]; then
  "$PY" tools/make_looks_figure.py --model "$OLD" mgpe-synth-128 --label before after \
    --out docs/images/looks/mgpe-synth-128.png
else
  "$PY" tools/make_looks_figure.py --model mgpe-synth-128 --out docs/images/looks/mgpe-synth-128.png
fi

if [ -n "$OLD" ]; then
  step "where edit-mask's plain seam rose -> docs/images/looks/seam_cases_edit_mask.png"
  "$PY" tools/make_seam_cases_figure.py --old "$OLD" --op edit-mask \
    --out docs/images/looks/seam_cases_edit_mask.png
fi

step "uncovered background -> docs/images/looks/background_fill.png"
"$PY" tools/make_background_fill_figure.py --out docs/images/looks/background_fill.png

step "tone matching at the blend -> docs/images/looks/colour_match.png"
"$PY" tools/make_colour_match_figure.py --out docs/images/looks/colour_match.png

step "restyled parts matched to their source -> docs/images/looks/style_match.png"
"$PY" tools/make_style_match_figure.py --zoom 6 --out docs/images/looks/style_match.png

step "a restyled part's fringe -> docs/images/looks/restyled_fringe.png"
"$PY" tools/make_fringe_figure.py --zoom 4 --out docs/images/looks/restyled_fringe.png

step "reshaped parts redrawn whole -> docs/images/looks/whole_part.png"
"$PY" tools/make_whole_part_figure.py --out docs/images/looks/whole_part.png

step "the astronaut -> docs/images/photos/astronaut_edits.png"
"$PY" tools/make_photo_figure.py --out docs/images/photos/astronaut_edits.png

step "parsers on the astronaut -> docs/images/photos/parsers_on_astronaut.png"
"$PY" bench/bench_parsers.py --repeat 1 --figure "$tmp/helen.png" \
  --astronaut-figure docs/images/photos/parsers_on_astronaut.png

step "the browser editor -> docs/images/serve"
CI=true MGPE_UPDATE_SCREENSHOTS=1 "$PY" -m pytest -q -p no:cacheprovider tests/test_serve_browser.py
