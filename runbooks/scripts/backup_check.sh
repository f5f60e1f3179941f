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
# roots in $3's value. realpath -m resolves `..` and symlinks without needing
# the path to exist, so `root/../../etc` and a symlink leading out are caught.
path_in_roots() {
  local value="${!2:-}" roots="${!3:-}" real root rroot
  local -a list
  [[ "$value" == /* ]] || refuse "path_outside_roots" "$2 must be an absolute path inside $3"
  real=$(realpath -m -- "$value")
  IFS=: read -r -a list <<<"$roots"
  for root in "${list[@]}"; do
    [[ "$root" == /* ]] || continue
    rroot=$(realpath -m -- "$root")
    # A root of / would make containment meaningless.
    [[ "$rroot" == / ]] && continue
    if [[ "$real" == "$rroot" || "$real" == "$rroot"/* ]]; then
      printf -v "$1" '%s' "$real"
      return 0
    fi
  done
  refuse "path_outside_roots" "$2 ($value) is not inside any of $3"
}

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
