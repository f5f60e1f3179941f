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

ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi

# Integers are checked before any arithmetic: bash evaluates $(( )) operands as
# expressions, so an unchecked value like 'a[$(id)]' would run a command.
read_int() {
  local raw="${!2:-$3}"
  if [[ ! "$raw" =~ ^[0-9]{1,9}$ ]] || ((10#$raw < $4 || 10#$raw > $5)); then
    refuse "invalid_${2,,}" "$2 must be an integer in [$4, $5]"
  fi
  printf -v "$1" '%d' "$((10#$raw))"
}

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
