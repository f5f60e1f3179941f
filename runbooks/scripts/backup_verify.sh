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

ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi
: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"

# Canonical path of $2's value if it lies inside one of the colon-separated
# roots in $3's value (realpath -m catches `..` and symlinks leading out).
path_in_roots() {
  local value="${!2:-}" roots="${!3:-}" real root rroot
  local -a list
  [[ "$value" == /* ]] || refuse "path_outside_roots" "$2 must be an absolute path inside $3"
  real=$(realpath -m -- "$value")
  IFS=: read -r -a list <<<"$roots"
  for root in "${list[@]}"; do
    [[ "$root" == /* ]] || continue
    rroot=$(realpath -m -- "$root")
    [[ "$rroot" == / ]] && continue
    if [[ "$real" == "$rroot" || "$real" == "$rroot"/* ]]; then
      printf -v "$1" '%s' "$real"
      return 0
    fi
  done
  refuse "path_outside_roots" "$2 ($value) is not inside any of $3"
}

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
