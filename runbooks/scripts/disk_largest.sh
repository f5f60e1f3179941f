#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-DISK-001 step 4 (report_largest_files): lists the largest files under
# the target directory so an operator can see what is using the space that
# cleanup could not recover. Read-only; the full list goes to stderr.
#
# Reads:  MSP_PARAM_TARGET_DIR, MSP_ROOTS_DISK_TARGETS, MSP_PARAM_LARGEST_COUNT
# Prints: largest_files_listed, largest_file_kb, largest_files ("<KiB> <path>; ...", one line)
# Exit:   0 ok, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
# This script only reads: the root filesystem is a legitimate thing to measure.
PATH_ROOTS_ALLOW_SLASH=1

path_in_roots target MSP_PARAM_TARGET_DIR MSP_ROOTS_DISK_TARGETS
read_int count MSP_PARAM_LARGEST_COUNT 10 1 50

# NUL-separated until the end so that a newline in a file name cannot split
# an entry; then newlines in names become '?'. Unreadable directories only
# shorten the list, which is acceptable for a report.
rows=$(find "$target" -xdev -type f -printf '%s\t%p\0' 2>/dev/null | sort -z -t $'\t' -k1,1nr |
  awk -v RS='\0' -v n="$count" 'NR <= n { gsub("\n", "?"); print }') || true
listed=0
first_kb=0
summary=""
while IFS=$'\t' read -r size path; do
  [[ -n "$size" ]] || continue
  kb=$(((size + 1023) / 1024))
  ((listed == 0)) && first_kb=$kb
  listed=$((listed + 1))
  echo "$kb KiB  $path" >&2
  summary+="${summary:+; }$kb $path"
done <<<"$rows"
ev largest_files_listed "$listed"
ev largest_file_kb "$first_kb"
ev largest_files "${summary:0:1500}"
