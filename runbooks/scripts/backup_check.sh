#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 step 1 (check_backup_state): looks at the backup repository
# before anything is changed: how many complete backups exist, how old the
# newest is, whether a failed job left staging directories, and the last line
# of the repository's backup log. Read-only.
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_PARAM_MAX_AGE_HOURS
# Prints: backups_found, last_backup_id, last_backup_age_seconds,
#         last_backup_stale, incomplete_backups, last_backup_log
# Exit:   0 ok, 64 misuse (argv given), 65 refused (path outside roots, bad parameter)
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
read_int max_age_hours MSP_PARAM_MAX_AGE_HOURS 26 1 8760

count=0
newest=""
incomplete=0
if [[ -d "$repo" ]]; then
  shopt -s nullglob
  # Only directories with both checksum files are complete: backup_run.sh
  # renames its staging directory into place as the very last action.
  for d in "$repo"/backup-*/; do
    d="${d%/}"
    [[ -f "$d/ARCHIVE.sha256" && -f "$d/MANIFEST.sha256" ]] || continue
    count=$((count + 1))
    newest="$d"
  done
  for d in "$repo"/.incomplete-*/; do incomplete=$((incomplete + 1)); done
fi

ev backups_found "$count"
if [[ -n "$newest" ]]; then
  now=$(date +%s)
  made=$(stat -c %Y -- "$newest/ARCHIVE.sha256")
  age=$((now - made))
  ev last_backup_id "${newest##*/}"
  ev last_backup_age_seconds "$age"
  if ((age > max_age_hours * 3600)); then ev last_backup_stale yes; else ev last_backup_stale no; fi
else
  ev last_backup_id none
  ev last_backup_age_seconds -1
  ev last_backup_stale yes
fi
ev incomplete_backups "$incomplete"
if [[ -f "$repo/backup.log" ]]; then
  ev last_backup_log "$(tail -n 1 -- "$repo/backup.log" | cut -c1-500)"
else
  ev last_backup_log none
fi
