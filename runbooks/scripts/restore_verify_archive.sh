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

ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi

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
