#!/usr/bin/env bash
# RB-RESTORE-001 step 6 and rollback (cleanup_scratch): removes the restore
# scratch directories of this run. It deletes only restore-scratch.* entries
# directly inside the run's work directory, so restored patient data never
# outlives the test.
#
# Reads:  MSP_WORK_DIR
# Prints: scratch_dirs_removed, scratch_removed (yes)
# Exit:   0 ok, 64 misuse
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
work=$(realpath -e -- "$MSP_WORK_DIR")
removed=0
shopt -s nullglob
for d in "$work"/restore-scratch.*; do
  [[ -d "$d" && ! -L "$d" ]] || continue
  rm -rf -- "$d"
  removed=$((removed + 1))
done
rm -f -- "$work/restore_scratch_dir"
ev scratch_dirs_removed "$removed"
ev scratch_removed yes
