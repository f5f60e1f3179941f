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
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/disk.sh"

read_int max_mb MSP_PARAM_LOG_MAX_MB 100 1 102400
cleanup_dirs MSP_PARAM_LOG_DIR MSP_ROOTS_LOG
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
