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
