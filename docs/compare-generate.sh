#!/usr/bin/env bash
# Regenerates the per-kind comparisons of docs/compare.md (between the `compare-generate`
# markers) and the plots docs/compare-KIND.svg|png with `relearn compare` itself, one
# subsection per built-in drift kind. Runs into a fresh temporary store, so the numbers are
# those of a first run (every checkpoint trained, peak memory measured).
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

section="$work/section.md"
{
  echo "<!-- compare-generate:begin (made by docs/compare-generate.sh; edit the script, not this) -->"
  for kind in "${kinds[@]}"; do
    echo "$kind ..." >&2
    "$bin" compare --config "configs/$kind.toml" --store "$work/store" --out "$work/$kind" \
      --policies stateless,stateful,replay,drift >"$work/$kind.txt"
    cp "$work/$kind/compare.svg" "docs/compare-$kind.svg"
    cp "$work/$kind/compare.png" "docs/compare-$kind.png"
    echo
    echo "### ${titles[$kind]}"
    echo
    echo "\`relearn compare --config configs/$kind.toml --policies stateless,stateful,replay,drift\`"
    echo
    echo "![per-window prequential score of each policy, $kind](compare-$kind.png)"
    echo
    echo '```text'
    # The per-window table is in compare.json and the plot; keep the header and totals.
    awk '/^ *window  /{skip=1} skip && /^$/{skip=0; next} !skip' "$work/$kind.txt" \
      | sed -e "s|$work/$kind|compare-out/$kind|g" | cat -s
    echo '```'
  done
  echo
  echo "<!-- compare-generate:end -->"
} >"$section"

page=docs/compare.md
grep -q '^<!-- compare-generate:begin' "$page" || {
  echo "$page has no compare-generate markers" >&2
  exit 1
}
awk -v section="$section" '
  /^<!-- compare-generate:begin/ { while ((getline line < section) > 0) print line; skip = 1; next }
  /^<!-- compare-generate:end/ { skip = 0; next }
  !skip
' "$page" >"$page.tmp"
mv "$page.tmp" "$page"
echo "updated $page and docs/compare-*.svg|png" >&2
