#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-DISK-001 step 5 and post-execution validation (verify_usage): measures
# the target again the same way check_usage did and fails unless usage is now
# below the threshold. Read-only. In a dry run nothing was cleaned, so usage
# still over the threshold is reported (usage_below_threshold=no) and is not a
# failure of this step; the success criterion stays unmet in the evidence.
#
# Reads:  MSP_PARAM_TARGET_DIR, MSP_ROOTS_DISK_TARGETS, MSP_PARAM_QUOTA_MB,
#         MSP_PARAM_THRESHOLD_PERCENT, MSP_WORK_DIR, MSP_DRY_RUN
# Prints: usage_after_mode, used_after_kb, usage_after_percent, kb_recovered, usage_below_threshold (yes | no)
# Exit:   0 below the threshold (or a dry run), 1 still at or above it, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/disk.sh"
# This script only reads: the root filesystem is a legitimate thing to measure.
PATH_ROOTS_ALLOW_SLASH=1

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
read_target

measure
before=""
[[ -f "$MSP_WORK_DIR/disk_used_kb_before" ]] && before=$(head -n 1 -- "$MSP_WORK_DIR/disk_used_kb_before")
ev usage_after_mode "$usage_mode"
ev used_after_kb "$used_kb"
ev usage_after_percent "$usage_percent"
if [[ "$before" =~ ^[0-9]+$ ]]; then ev kb_recovered "$((before - used_kb))"; else ev kb_recovered 0; fi
if ((usage_percent < threshold)); then
  ev usage_below_threshold yes
else
  ev usage_below_threshold no
  echo "usage is still ${usage_percent}% (threshold ${threshold}%)" >&2
  if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
    ev dry_run 1
    exit 0
  fi
  exit 1
fi
