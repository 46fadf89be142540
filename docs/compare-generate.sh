#!/usr/bin/env bash
# Regenerates docs/compare.md and the plots docs/compare-KIND.svg|png with `relearn compare`
# itself, one section per built-in drift kind. Runs into a fresh temporary store, so the
# numbers are those of a first run (peak memory measured, every checkpoint trained).
#
#   cargo build && docs/compare-generate.sh          # RELEARN=path/to/relearn to override
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RELEARN:-target/debug/relearn}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

kinds=(sea hyperplane feature-drift label-drift friedman)
declare -A titles=(
  [sea]="SEA: abrupt concept drift"
  [hyperplane]="Rotating hyperplane: gradual concept drift"
  [feature-drift]="Feature drift (covariate shift)"
  [label-drift]="Label drift (prior shift)"
  [friedman]="Friedman #1: regression with abrupt drift"
)

md=docs/compare.md
{
  cat docs/compare-intro.md
  for kind in "${kinds[@]}"; do
    echo "$kind ..." >&2
    "$bin" compare --config "configs/$kind.toml" --store "$work/store" --out "$work/$kind" >"$work/$kind.txt"
    cp "$work/$kind/compare.svg" "docs/compare-$kind.svg"
    cp "$work/$kind/compare.png" "docs/compare-$kind.png"
    echo
    echo "### ${titles[$kind]}"
    echo
    echo "\`relearn compare --config configs/$kind.toml\`"
    echo
    echo "![per-window prequential score of both modes, $kind](compare-$kind.png)"
    echo
    echo '```text'
    # The per-window table is in compare.json and the plot; keep the header and totals.
    awk '/^ *window  /{skip=1} skip && /^\(difference/{skip=0; next} !skip' "$work/$kind.txt" \
      | sed -e "s|$work/$kind|compare-out/$kind|g" | cat -s
    echo '```'
  done
} >"$md.tmp"
mv "$md.tmp" "$md"
echo "wrote $md and docs/compare-*.svg|png" >&2
