#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-RESTORE-001 step 2 (verify_archive): recomputes the selected archive's
# sha256 and compares it with the one recorded when the backup was made, so a
# corrupted or altered archive is caught before anything is extracted.
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_WORK_DIR
# Prints: expected_archive_sha256, restore_archive_sha256, archive_verified (yes | no)
# Exit:   0 match, 1 mismatch or unreadable, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
[[ -f "$MSP_WORK_DIR/restore_backup_dir" ]] || { echo "select_backup did not record a backup" >&2; exit 1; }
dir=$(head -n 1 -- "$MSP_WORK_DIR/restore_backup_dir")
# The work-dir file is input too: it must name a backup directly inside the repository.
[[ "${dir%/*}" == "$repo" && "${dir##*/}" =~ ^backup-[0-9A-Za-z.]+$ ]] || refuse "invalid_backup_dir" "recorded backup $dir is not in $repo"

expected=$(cut -d' ' -f1 "$dir/ARCHIVE.sha256")
actual=$(sha256sum -- "$dir/data.tar.gz" | cut -d' ' -f1)
ev expected_archive_sha256 "$expected"
ev restore_archive_sha256 "$actual"
if [[ "$actual" == "$expected" && "$expected" =~ ^[0-9a-f]{64}$ ]]; then
  ev archive_verified yes
else
  ev archive_verified no
  echo "archive ${dir##*/}/data.tar.gz is corrupted: sha256 $actual, recorded $expected" >&2
  exit 1
fi
