#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-RESTORE-001 step 3 (restore_to_scratch): extracts the selected archive
# into a fresh scratch directory under the run's work directory, never over
# live data. Ownership is not restored, so the scratch copy cannot hand files
# to arbitrary uids. Runs in dry-run mode too: it only writes to scratch.
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_WORK_DIR
# Writes: $MSP_WORK_DIR/restore-scratch.XXXXXX/, $MSP_WORK_DIR/restore_scratch_dir
# Prints: scratch_dir, files_restored, restored_kb
# Exit:   0 extracted, 1 failed, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
[[ -f "$MSP_WORK_DIR/restore_backup_dir" ]] || { echo "select_backup did not record a backup" >&2; exit 1; }
dir=$(head -n 1 -- "$MSP_WORK_DIR/restore_backup_dir")
[[ "${dir%/*}" == "$repo" && "${dir##*/}" =~ ^backup-[0-9A-Za-z.]+$ ]] || refuse "invalid_backup_dir" "recorded backup $dir is not in $repo"

scratch=$(mktemp -d -- "$MSP_WORK_DIR/restore-scratch.XXXXXX")
printf '%s\n' "$scratch" >"$MSP_WORK_DIR/restore_scratch_dir"
# GNU tar strips leading '/' and refuses '..' members, keeping the extraction inside scratch.
tar -xzf "$dir/data.tar.gz" -C "$scratch" --no-same-owner --no-same-permissions
ev scratch_dir "$scratch"
ev files_restored "$(find "$scratch" -type f -printf . | wc -c)"
ev restored_kb "$(du -sk -- "$scratch" | cut -f1)"
