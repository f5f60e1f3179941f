#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 step 4 (verify_backup): checks the backup this run made: the
# archive's sha256 equals the recorded one, gzip and tar can read it to the
# end, and it holds exactly as many files as the manifest lists. (Restoring
# and comparing every file's checksum is RB-RESTORE-001's job.)
#
# Reads:  MSP_PARAM_REPOSITORY_DIR, MSP_ROOTS_BACKUP_TARGETS, MSP_WORK_DIR, MSP_DRY_RUN
# Prints: backup_verified (yes | no | skipped), verified_archive_sha256, archive_file_entries
# Exit:   0 verified (or nothing to verify in a dry run), 1 failed, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"

path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS

if [[ ! -f "$MSP_WORK_DIR/backup_id" ]]; then
  if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
    echo "dry run: no backup was made, nothing to verify" >&2
    ev backup_verified skipped
    ev verified_archive_sha256 none
    ev archive_file_entries 0
    exit 0
  fi
  echo "no backup id recorded in $MSP_WORK_DIR; run_backup did not complete" >&2
  ev backup_verified no
  exit 1
fi
id=$(head -n 1 -- "$MSP_WORK_DIR/backup_id")
# The id comes from a file; check its shape so it cannot name a path elsewhere.
[[ "$id" =~ ^backup-[0-9]{8}T[0-9]{6}\.[0-9]{9}Z$ ]] || refuse "invalid_backup_id" "recorded backup id is malformed"
dir="$repo/$id"

fail() {
  echo "$1" >&2
  ev backup_verified no
  exit 1
}
[[ -f "$dir/data.tar.gz" && -f "$dir/ARCHIVE.sha256" && -f "$dir/MANIFEST.sha256" ]] || fail "backup $dir is incomplete"
expected=$(cut -d' ' -f1 "$dir/ARCHIVE.sha256")
actual=$(sha256sum -- "$dir/data.tar.gz" | cut -d' ' -f1)
ev verified_archive_sha256 "$actual"
[[ "$actual" == "$expected" ]] || fail "archive sha256 $actual differs from recorded $expected"
gzip -t -- "$dir/data.tar.gz" || fail "archive is not a readable gzip stream"
# Regular files are '-' in a verbose listing and hard links 'h'; the manifest
# has one line per name of either kind.
entries=$(tar -tvzf "$dir/data.tar.gz" | awk 'substr($0, 1, 1) == "-" || substr($0, 1, 1) == "h"' | wc -l) ||
  fail "tar cannot list the archive"
listed=$(wc -l <"$dir/MANIFEST.sha256")
ev archive_file_entries "$entries"
((entries == listed)) || fail "archive holds $entries files but the manifest lists $listed"
ev backup_verified yes
