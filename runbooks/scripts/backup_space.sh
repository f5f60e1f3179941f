#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 step 2 (verify_backup_space): checks that the repository's
# filesystem can take a new backup: free space must cover the source's size
# (an upper bound for its gzip archive) plus a configured reserve. Read-only.
#
# Reads:  MSP_PARAM_SOURCE_DIR, MSP_ROOTS_BACKUP_SOURCES, MSP_PARAM_REPOSITORY_DIR,
#         MSP_ROOTS_BACKUP_TARGETS, MSP_PARAM_MIN_FREE_MB
# Prints: source_kb, repository_free_kb, required_kb, space_ok
# Exit:   0 enough space, 1 not enough, 64 misuse, 65 refused
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

path_in_roots src MSP_PARAM_SOURCE_DIR MSP_ROOTS_BACKUP_SOURCES
path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
read_int min_free_mb MSP_PARAM_MIN_FREE_MB 100 0 1048576
[[ -d "$src" ]] || { echo "source directory $src does not exist" >&2; exit 1; }

source_kb=$(du -sk -- "$src" | cut -f1)
# The repository may not exist yet (backup_run.sh creates it); measure the
# filesystem of its nearest existing ancestor instead.
probe="$repo"
while [[ ! -d "$probe" ]]; do probe=$(dirname -- "$probe"); done
free_kb=$(df -Pk -- "$probe" | awk 'NR == 2 { print $4 }')
required_kb=$((source_kb + min_free_mb * 1024))

ev source_kb "$source_kb"
ev repository_free_kb "$free_kb"
ev required_kb "$required_kb"
if ((free_kb >= required_kb)); then
  ev space_ok yes
else
  ev space_ok no
  echo "repository filesystem has ${free_kb} KiB free; ${required_kb} KiB needed" >&2
  exit 1
fi
