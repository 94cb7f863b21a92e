#!/usr/bin/env bash
# Counts the instructions and first-level data-cache misses of a first
# `apply_all` call and its table (what `apply_table` does), under Valgrind's
# callgrind with its cache simulation: figures that do not drift with the
# host's load, for comparing two builds where timings are too noisy to.
#
#   bash bench/count.sh [corpus folder] [codebook ...]
#
# Defaults: the 10 MB proceedings and the 10- and 1,000-rule codebooks that
# `bench/run.sh` writes under bench/work/. Needs `valgrind` on the PATH (it is
# not part of the set-up: this is a tool for changing the engine, not for
# running it). Each codebook takes a minute or two.
#
# KEEP=DIR keeps each codebook's callgrind output as DIR/<codebook>.callgrind, for
# `python3 bench/cgdiff.py` (which functions or lines differ between two of them),
# with each instruction's address (for `cgdiff.py --own src/`, which counts inlined
# library code at the project's line it was inlined into); BRANCHES=1 adds
# callgrind's simulated branch predictor (events Bc, Bcm: conditional branches and
# their mispredictions; Bi, Bim: indirect ones);
# PROFILE=bench-release builds with line tables, so that `cgdiff.py --lines` can
# name the source lines (built with link-time optimisation, it executes about one
# per cent fewer instructions than the release build: compare like with like).
#
#   ARCHIVE=<archive folder> bash bench/count.sh [codebook ...]
#
# counts a first `Project.autocode` run of each codebook on one thread instead
# (`profile_autocode`, which codes a fresh copy of the archive: the matching, and
# writing the codings to the store, commit included); every argument is then a
# codebook. `profile_ingest` makes an archive, e.g. of the 100 MB proceedings.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    echo "count.sh: valgrind is not installed; it is needed for counting instructions" >&2
    exit 2
fi
archive=${ARCHIVE:-}
if [ -n "$archive" ]; then
    corpus=$archive
else
    corpus=${1:-bench/work/corpora/stortinget-10MB}
    shift || true
fi
books=("$@")
if [ ${#books[@]} -eq 0 ]; then
    books=(bench/work/codebooks/rules-10.toml bench/work/codebooks/rules-1000.toml)
fi
for f in "$corpus" "${books[@]}"; do
    if [ ! -e "$f" ]; then
        echo "count.sh: $f does not exist (bench/run.sh --quick makes the defaults)" >&2
        exit 2
    fi
done

profile=${PROFILE:-release}
example=profile_apply
if [ -n "$archive" ]; then example=profile_autocode; fi
cargo build --profile "$profile" --quiet --example "$example"
bin=target/$profile/examples/$example
extra=()
if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    extra+=(--dump-instr=yes)
fi
if [ -n "${BRANCHES:-}" ]; then extra+=(--branch-sim=yes); fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-40s %16s %14s %14s %14s\n' codebook instructions "D1 read miss" "D1 write miss" "mispredicted"
for book in "${books[@]}"; do
    # Each toggle turns counting on as its function is entered and off as it is
    # left; one that also matched a function called inside (a closure of the same
    # name) would turn it off there, so the table's are named one by one.
    if [ -n "$archive" ]; then
        toggles=(--toggle-collect='innsikt::project::Project::autocode_with_threads*')
        args=("$archive" "$book" 1 1)
    else
        toggles=(
            --toggle-collect='innsikt::codebook::Matchers::apply_all*'
            --toggle-collect='innsikt::table::HitsTable::new'
            --toggle-collect='innsikt::table::HitsTable::reserve'
            --toggle-collect='innsikt::table::HitsTable::push'
            --toggle-collect='innsikt::table::HitsTable::finish'
        )
        args=("$corpus" "$book")
    fi
    APPLY_ONLY=1 ROUNDS=1 valgrind --tool=callgrind --cache-sim=yes "${extra[@]}" "${toggles[@]}" \
        --callgrind-out-file="$out/cg" "$bin" "${args[@]}" >"$out/log" 2>&1 || {
        cat "$out/log" >&2
        exit 1
    }
    # The totals, read by the names the `events:` line gives them; conditional
    # branches mispredicted only with BRANCHES=1.
    read -r ir d1mr d1mw bcm < <(awk '
        /^events:/ { for (i = 2; i <= NF; i++) at[$i] = i }
        /^summary:/ { print $at["Ir"], $at["D1mr"], $at["D1mw"], ("Bcm" in at ? $at["Bcm"] : "-") }' "$out/cg")
    printf '%-40s %16s %14s %14s %14s\n' "$(basename "$book")" "$ir" "$d1mr" "$d1mw" "$bcm"
    if [ -n "${KEEP:-}" ]; then cp "$out/cg" "$KEEP/$(basename "$book" .toml).callgrind"; fi
done
