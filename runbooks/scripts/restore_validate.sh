#!/usr/bin/env bash
# RB-RESTORE-001 post-execution validation (scratch_cleaned): confirms that
# no restored data is left in the run's work directory. Read-only.
#
# Reads:  MSP_WORK_DIR
# Prints: scratch_left (count)
# Exit:   0 nothing left, 1 scratch data remains, 64 misuse
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
left=0
shopt -s nullglob
for _ in "$MSP_WORK_DIR"/restore-scratch.*; do left=$((left + 1)); done
ev scratch_left "$left"
((left == 0)) || { echo "$left restore scratch directories remain in $MSP_WORK_DIR" >&2; exit 1; }
