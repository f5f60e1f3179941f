#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 post-execution validation (latest_backup_intact): the newest
# complete backup in the repository exists, is younger than the allowed age
# and its archive still matches its recorded sha256. Read-only.
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_PARAM_MAX_AGE_HOURS
# Prints: latest_backup_id, latest_backup_intact (yes | no)
# Exit:   0 intact and fresh, 1 otherwise, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
read_int max_age_hours MSP_PARAM_MAX_AGE_HOURS 26 1 8760

newest=""
shopt -s nullglob
for d in "$repo"/backup-*/; do
  d="${d%/}"
  [[ -f "$d/ARCHIVE.sha256" && -f "$d/MANIFEST.sha256" ]] && newest="$d"
done
if [[ -z "$newest" ]]; then
  ev latest_backup_id none
  ev latest_backup_intact no
  echo "no complete backup in $repo" >&2
  exit 1
fi
ev latest_backup_id "${newest##*/}"
expected=$(cut -d' ' -f1 "$newest/ARCHIVE.sha256")
actual=$(sha256sum -- "$newest/data.tar.gz" 2>/dev/null | cut -d' ' -f1) || actual=missing
age=$(($(date +%s) - $(stat -c %Y -- "$newest/ARCHIVE.sha256")))
if [[ "$actual" == "$expected" ]] && ((age <= max_age_hours * 3600)); then
  ev latest_backup_intact yes
else
  ev latest_backup_intact no
  echo "newest backup ${newest##*/}: sha256 ${actual} (recorded ${expected}), age ${age}s" >&2
  exit 1
fi
