#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 rollback (discard_failed_backup): undoes what this run left
# behind when a step failed: removes its staging directory if the archive was
# never completed, and moves a completed-but-unverified backup aside to
# failed-<id> so that RB-RESTORE-001 never picks it. Nothing else in the
# repository is touched.
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_WORK_DIR, MSP_DRY_RUN
# Prints: rollback_staging_removed (yes | no), rollback_quarantined (failed-<id> | none)
# Exit:   0 ok, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"

path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
dry=0
[[ "${MSP_DRY_RUN:-0}" == 1 ]] && dry=1

removed=no
if [[ -f "$MSP_WORK_DIR/backup_staging" ]]; then
  staging=$(head -n 1 -- "$MSP_WORK_DIR/backup_staging")
  # Only this run's staging directory, named as backup_run.sh names it, directly in the repository.
  if [[ "$staging" =~ ^.*/\.incomplete-backup-[0-9]{8}T[0-9]{6}\.[0-9]{9}Z$ && "${staging%/*}" == "$repo" && -d "$staging" ]]; then
    if ((dry)); then echo "dry run: would remove $staging" >&2; else rm -rf -- "$staging"; removed=yes; fi
  fi
fi

quarantined=none
if [[ -f "$MSP_WORK_DIR/backup_id" ]]; then
  id=$(head -n 1 -- "$MSP_WORK_DIR/backup_id")
  if [[ "$id" =~ ^backup-[0-9]{8}T[0-9]{6}\.[0-9]{9}Z$ && -d "$repo/$id" ]]; then
    if ((dry)); then
      echo "dry run: would move $repo/$id to $repo/failed-${id#backup-}" >&2
    else
      mv -- "$repo/$id" "$repo/failed-${id#backup-}"
      quarantined="failed-${id#backup-}"
      printf '%s %s quarantined after failed verification\n' "$(date -u +%FT%TZ)" "$id" >>"$repo/backup.log"
    fi
  fi
fi
ev rollback_staging_removed "$removed"
ev rollback_quarantined "$quarantined"
