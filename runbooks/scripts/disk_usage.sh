#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-DISK-001 step 1 (check_usage): measures how full the target directory
# is, against its configured quota (du) or its filesystem (df), and records
# the figure so verify_usage can report what was recovered. Read-only.
#
# Reads:  MSP_PARAM_TARGET_DIR, MSP_ROOTS_DISK_TARGETS, MSP_PARAM_QUOTA_MB,
#         MSP_PARAM_THRESHOLD_PERCENT, MSP_WORK_DIR
# Writes: $MSP_WORK_DIR/disk_used_kb_before
# Prints: usage_mode (quota | filesystem), used_kb, limit_kb, usage_percent,
#         threshold_percent, over_threshold (yes | no)
# Exit:   0 ok, 1 cannot measure, 64 misuse, 65 refused
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
printf '%s\n' "$used_kb" >"$MSP_WORK_DIR/disk_used_kb_before"
ev usage_mode "$usage_mode"
ev used_kb "$used_kb"
ev limit_kb "$limit_kb"
ev usage_percent "$usage_percent"
ev threshold_percent "$threshold"
if ((usage_percent >= threshold)); then ev over_threshold yes; else ev over_threshold no; fi
