#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-RESTORE-001 step 1 (select_backup): picks the newest complete backup in
# the repository for this week's restore test and records it in the work
# directory. Read-only.
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_PARAM_MAX_BACKUP_AGE_HOURS, MSP_WORK_DIR
# Writes: $MSP_WORK_DIR/restore_backup_dir
# Prints: backups_available, restore_backup_id, restore_backup_age_seconds, backup_fresh (yes | no)
# Exit:   0 a backup was selected, 1 none exists, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
read_int max_age_hours MSP_PARAM_MAX_BACKUP_AGE_HOURS 192 1 8760

count=0
newest=""
shopt -s nullglob
# Name order is time order (ids carry a UTC nanosecond timestamp); staging
# (.incomplete-*) and quarantined (failed-*) directories never match.
for d in "$repo"/backup-*/; do
  d="${d%/}"
  [[ -f "$d/ARCHIVE.sha256" && -f "$d/MANIFEST.sha256" && -f "$d/data.tar.gz" ]] || continue
  count=$((count + 1))
  newest="$d"
done
ev backups_available "$count"
if [[ -z "$newest" ]]; then
  ev restore_backup_id none
  ev backup_fresh no
  echo "no complete backup in $repo" >&2
  exit 1
fi
age=$(($(date +%s) - $(stat -c %Y -- "$newest/ARCHIVE.sha256")))
printf '%s\n' "$newest" >"$MSP_WORK_DIR/restore_backup_dir"
ev restore_backup_id "${newest##*/}"
ev restore_backup_age_seconds "$age"
if ((age <= max_age_hours * 3600)); then ev backup_fresh yes; else ev backup_fresh no; fi
