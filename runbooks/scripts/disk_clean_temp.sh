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
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/disk.sh"

read_int days MSP_PARAM_TEMP_MAX_AGE_DAYS 7 1 3650
cleanup_dirs MSP_PARAM_TEMP_DIR MSP_ROOTS_TMP
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
