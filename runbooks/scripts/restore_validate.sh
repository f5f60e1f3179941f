#!/usr/bin/env bash
# RB-RESTORE-001 post-execution validation (scratch_cleaned): confirms that
# no restored data is left in the run's work directory. Read-only.
#
# Reads:  MSP_WORK_DIR
# Prints: scratch_left (count)
# Exit:   0 nothing left, 1 scratch data remains, 64 misuse
set -euo pipefail
export LC_ALL=C

ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
left=0
shopt -s nullglob
for _ in "$MSP_WORK_DIR"/restore-scratch.*; do left=$((left + 1)); done
ev scratch_left "$left"
((left == 0)) || { echo "$left restore scratch directories remain in $MSP_WORK_DIR" >&2; exit 1; }
