#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-DISK-001 step 2 (clean_temp): deletes regular files older than
# temp_max_age_days from the temp directory (temp_dir, or every configured
# `tmp` root when none is given). Only inside those roots, never across a
# mount point, never following symlinks. Files still held open free their
# space only when closed; that is accepted rather than guessed at.
#
# Reads:  MSP_PARAM_TEMP_DIR, MSP_ROOTS_TMP, MSP_PARAM_TEMP_MAX_AGE_DAYS, MSP_DRY_RUN
# Prints: temp_dirs_cleaned, temp_files_removed, temp_kb_freed,
#         temp_cleanup (done | skipped | dry_run)
# Exit:   0 ok, 1 find could not finish, 64 misuse, 65 refused
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

read_int days MSP_PARAM_TEMP_MAX_AGE_DAYS 7 1 3650
dirs=()
if [[ -n "${MSP_PARAM_TEMP_DIR:-}" ]]; then
  path_in_roots one MSP_PARAM_TEMP_DIR MSP_ROOTS_TMP
  dirs+=("$one")
else
  IFS=: read -r -a roots <<<"${MSP_ROOTS_TMP:-}"
  for r in "${roots[@]}"; do
    [[ "$r" == /* ]] || continue
    r=$(realpath -m -- "$r")
    [[ "$r" != / ]] && dirs+=("$r")
  done
fi
dry=0
[[ "${MSP_DRY_RUN:-0}" == 1 ]] && dry=1

files=0
bytes=0
cleaned=0
failed=0
for d in "${dirs[@]}"; do
  [[ -d "$d" && ! -L "$d" ]] || continue
  cleaned=$((cleaned + 1))
  # -delete runs in the same traversal as the test (no window in which a
  # directory could be swapped for a symlink); -printf records each size first.
  if ((dry)); then
    sizes=$(find "$d" -xdev -mindepth 1 -type f -mmin +"$((days * 1440))" -printf '%s\n') || failed=1
  else
    sizes=$(find "$d" -xdev -mindepth 1 -type f -mmin +"$((days * 1440))" -printf '%s\n' -delete) || failed=1
  fi
  if [[ -n "$sizes" ]]; then
    files=$((files + $(wc -l <<<"$sizes")))
    bytes=$((bytes + $(awk '{ s += $1 } END { print s + 0 }' <<<"$sizes")))
  fi
done

ev temp_dirs_cleaned "$cleaned"
if ((dry)); then
  echo "dry run: would delete $files files ($((bytes / 1024)) KiB) older than $days days" >&2
  ev dry_run 1
  ev temp_files_removed 0
  ev temp_kb_freed 0
  ev temp_cleanup dry_run
  exit 0
fi
ev temp_files_removed "$files"
ev temp_kb_freed "$((bytes / 1024))"
if ((cleaned == 0)); then ev temp_cleanup skipped; else ev temp_cleanup "done"; fi
((failed == 0)) || { echo "find could not visit every file" >&2; exit 1; }
