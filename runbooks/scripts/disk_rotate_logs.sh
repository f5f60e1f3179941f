#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-DISK-001 step 3 (rotate_logs): compresses log files bigger than
# log_max_mb in the log directory (log_dir, or every configured `log` root).
# A live *.log is copied to <name>.<utc>.gz and then truncated in place
# (copytruncate), so a daemon holding it open keeps writing to the same file;
# lines written between the copy and the truncation are lost, the usual
# copytruncate trade-off. An uncompressed rotated log (*.log.1) is gzipped in
# place. Nothing outside those roots is touched.
#
# Reads:  MSP_PARAM_LOG_DIR, MSP_ROOTS_LOG, MSP_PARAM_LOG_MAX_MB, MSP_DRY_RUN
# Prints: logs_rotated, log_kb_freed, log_rotation (done | none | skipped | dry_run)
# Exit:   0 ok, 1 a file could not be rotated, 64 misuse, 65 refused
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

read_int max_mb MSP_PARAM_LOG_MAX_MB 100 1 102400
dirs=()
if [[ -n "${MSP_PARAM_LOG_DIR:-}" ]]; then
  path_in_roots one MSP_PARAM_LOG_DIR MSP_ROOTS_LOG
  dirs+=("$one")
else
  IFS=: read -r -a roots <<<"${MSP_ROOTS_LOG:-}"
  for r in "${roots[@]}"; do
    [[ "$r" == /* ]] || continue
    r=$(realpath -m -- "$r")
    [[ "$r" != / ]] && dirs+=("$r")
  done
fi
dry=0
[[ "${MSP_DRY_RUN:-0}" == 1 ]] && dry=1
stamp=$(date -u +%Y%m%dT%H%M%SZ)

# The whole list is collected before anything is written, so the files this
# script creates are never picked up by the same search.
candidates=()
visited=0
for d in "${dirs[@]}"; do
  [[ -d "$d" && ! -L "$d" ]] || continue
  visited=$((visited + 1))
  mapfile -d '' -O "${#candidates[@]}" candidates < <(find "$d" -xdev -type f \
    \( -name '*.log' -o -name '*.log.[0-9]*' \) ! -name '*.gz' ! -name '.*' -size +"$((max_mb * 1024))"k -print0)
done

rotated=0
freed_bytes=0
failed=0
for f in "${candidates[@]}"; do
  before=$(stat -c %s -- "$f")
  if ((dry)); then
    echo "dry run: would compress $f ($((before / 1024)) KiB)" >&2
    continue
  fi
  if [[ "$f" == *.log ]]; then
    gz="$f.$stamp.gz"
    [[ -e "$gz" ]] && gz="$f.$stamp.$$.gz"
    tmp="${f%/*}/.${gz##*/}.msp-tmp"
    if gzip -c -- "$f" >"$tmp" && chmod --reference="$f" -- "$tmp" && mv -- "$tmp" "$gz"; then
      truncate -s 0 -- "$f"
    else
      rm -f -- "$tmp"
      failed=1
      echo "could not rotate $f" >&2
      continue
    fi
  else
    gz="$f.gz"
    if [[ -e "$gz" ]] || ! gzip -- "$f"; then
      failed=1
      echo "could not compress $f" >&2
      continue
    fi
  fi
  rotated=$((rotated + 1))
  freed_bytes=$((freed_bytes + before - $(stat -c %s -- "$gz")))
done

if ((dry)); then
  ev dry_run 1
  ev logs_rotated 0
  ev log_kb_freed 0
  ev log_rotation dry_run
  exit 0
fi
ev logs_rotated "$rotated"
ev log_kb_freed "$((freed_bytes / 1024))"
if ((visited == 0)); then
  ev log_rotation skipped
elif ((rotated == 0)); then
  ev log_rotation none
else
  ev log_rotation "done"
fi
((failed == 0)) || exit 1
