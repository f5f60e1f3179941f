# shellcheck shell=bash
# Shared by every runbook script: evidence printing, policy refusals, the
# argv refusal, and the parameter checks scripts repeat even though the
# executor validated the values. Sourced first thing after `set -euo
# pipefail`; it runs no command of its own except the argv check.
#
# The executor pins this file by sha256 in catalog.json like the scripts
# (for every runbook whose scripts source it) and sets MSP_LIB_DIR to a
# private copy of exactly the pinned bytes, so nothing unpinned is sourced.
#
# Defines: ev, refuse, read_int, path_in_roots (PATH_ROOTS_ALLOW_SLASH), in_list,
#          allowed_service

# Prints evidence key $1 with value $2 forced onto one printable line.
ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
# Refuses by policy: prints refused=$1, explains $2 on stderr, exits 65.
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
# (A file sourced without arguments sees the sourcing script's own "$@".)
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi

# Integers are checked before any arithmetic: bash evaluates $(( )) operands as
# expressions, so an unchecked value like 'a[$(id)]' would run a command.
# read_int <var> <env name> <default> <min> <max>
read_int() {
  local raw="${!2:-$3}"
  if [[ ! "$raw" =~ ^[0-9]{1,9}$ ]] || ((10#$raw < $4 || 10#$raw > $5)); then
    refuse "invalid_${2,,}" "$2 must be an integer in [$4, $5]"
  fi
  printf -v "$1" '%d' "$((10#$raw))"
}

# Canonical path of $2's value if it lies inside one of the colon-separated
# roots in $3's value (realpath -m catches `..` and symlinks leading out).
# A root of / would make containment meaningless and is skipped, unless the
# script sets PATH_ROOTS_ALLOW_SLASH=1: only the read-only disk measurement
# scripts do, since the root filesystem is a legitimate thing to measure.
path_in_roots() {
  local value="${!2:-}" roots="${!3:-}" real root rroot
  local -a list
  [[ "$value" == /* ]] || refuse "path_outside_roots" "$2 must be an absolute path inside $3"
  real=$(realpath -m -- "$value")
  IFS=: read -r -a list <<<"$roots"
  for root in "${list[@]}"; do
    [[ "$root" == /* ]] || continue
    rroot=$(realpath -m -- "$root")
    if [[ "$rroot" == / ]]; then
      [[ "${PATH_ROOTS_ALLOW_SLASH:-0}" == 1 ]] || continue
      printf -v "$1" '%s' "$real"
      return 0
    fi
    if [[ "$real" == "$rroot" || "$real" == "$rroot"/* ]]; then
      printf -v "$1" '%s' "$real"
      return 0
    fi
  done
  refuse "path_outside_roots" "$2 ($value) is not inside any of $3"
}

# Whether $1 is one of the space-separated names in $2 (exact match only).
in_list() {
  local item
  local -a names
  read -r -a names <<<"$2"
  for item in "${names[@]}"; do [[ "$item" == "$1" ]] && return 0; done
  return 1
}

# Refuses service name $1 (with message $2 when malformed) unless it has the
# shape of a unit name (so it can never be read as an option) and is in
# MSP_SERVICE_ALLOWLIST; checked before anything acts on it.
allowed_service() {
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$ ]] || refuse "invalid_service_name" "$2"
  if ! in_list "$1" "${MSP_SERVICE_ALLOWLIST:-}"; then
    ev refused_name "$1"
    refuse "not_allowlisted" "service $1 is not in MSP_SERVICE_ALLOWLIST"
  fi
}
