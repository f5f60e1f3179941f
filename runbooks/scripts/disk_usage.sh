#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-DISK-001 step 1 (check_usage): measures how full the target directory
# is, against its configured quota (du) or its filesystem (df), and records
# the figure so verify_usage can report what was recovered. Read-only.
#
# Reads:  MSP_PARAM_TARGET_DIR, MSP_ROOTS_DISK_TARGETS, MSP_PARAM_QUOTA_MB,
#         MSP_PARAM_THRESHOLD_PERCENT, MSP_WORK_DIR
# Writes: $MSP_WORK_DIR/disk_used_kb_before
# Prints: usage_mode (quota | filesystem), used_kb, limit_kb, usage_percent,
#         threshold_percent, over_threshold (yes | no)
# Exit:   0 ok, 1 cannot measure, 64 misuse, 65 refused
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
    # No skip of a / root here: this script only reads, and the root
    # filesystem is a legitimate thing to measure.
    if [[ "$rroot" == / || "$real" == "$rroot" || "$real" == "$rroot"/* ]]; then
      printf -v "$1" '%s' "$real"
      return 0
    fi
  done
  refuse "path_outside_roots" "$2 ($value) is not inside any of $3"
}

# Sets usage_mode, used_kb, limit_kb and usage_percent for $target: against
# quota_mb with du when a quota is configured (a directory's share of a
# disk), else against its whole filesystem with df (what fills up and stops
# services).
measure() {
  local out fs_used fs_avail
  if ((quota_mb > 0)); then
    usage_mode=quota
    # An unreadable subdirectory makes du exit 1 but still print a total; that total is used.
    out=$(du -skx -- "$target" 2>/dev/null) || true
    used_kb="${out%%[[:space:]]*}"
    limit_kb=$((quota_mb * 1024))
  else
    usage_mode=filesystem
    read -r fs_used fs_avail < <(df -Pk -- "$target" | awk 'NR == 2 { print $3, $4 }')
    used_kb="$fs_used"
    limit_kb=$((fs_used + fs_avail))
  fi
  if [[ ! "$used_kb" =~ ^[0-9]+$ ]] || ((limit_kb == 0)); then
    echo "cannot measure usage of $target" >&2
    exit 1
  fi
  # Rounded up like df's Use%, so 90.1% never reads as under a 90% threshold.
  usage_percent=$(((used_kb * 100 + limit_kb - 1) / limit_kb))
}

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
path_in_roots target MSP_PARAM_TARGET_DIR MSP_ROOTS_DISK_TARGETS
read_int quota_mb MSP_PARAM_QUOTA_MB 0 0 16777216
read_int threshold MSP_PARAM_THRESHOLD_PERCENT 90 1 99
[[ -d "$target" ]] || { echo "target directory $target does not exist" >&2; exit 1; }

measure
printf '%s\n' "$used_kb" >"$MSP_WORK_DIR/disk_used_kb_before"
ev usage_mode "$usage_mode"
ev used_kb "$used_kb"
ev limit_kb "$limit_kb"
ev usage_percent "$usage_percent"
ev threshold_percent "$threshold"
if ((usage_percent >= threshold)); then ev over_threshold yes; else ev over_threshold no; fi
