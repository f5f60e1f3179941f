#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CERT-001 step 2 (backup_certificate): copies the current certificate to
# the agent's state directory before it is replaced. The copy is kept out of
# the certificate directory because some services load every file there.
# The private key is not copied: renewal reuses it unchanged.
#
# Reads:  MSP_PARAM_CERT_PATH, MSP_ROOTS_CERTS, MSP_STATE_DIR, MSP_WORK_DIR, MSP_DRY_RUN
# Writes: $MSP_STATE_DIR/cert-backups/<name>.<utc>.pem, $MSP_WORK_DIR/cert_backup_path
# Prints: cert_backup_path, cert_backup_sha256
# Exit:   0 ok, 1 failed, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C

ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi

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

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
: "${MSP_STATE_DIR:?MSP_STATE_DIR is required}"
path_in_roots cert MSP_PARAM_CERT_PATH MSP_ROOTS_CERTS
[[ -f "$cert" ]] || { echo "certificate $cert does not exist" >&2; exit 1; }

dir="$MSP_STATE_DIR/cert-backups"
target="$dir/${cert##*/}.$(date -u +%Y%m%dT%H%M%S.%NZ).pem"
sha=$(sha256sum -- "$cert" | cut -d' ' -f1)
if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would copy $cert to $target" >&2
  ev dry_run 1
  ev cert_backup_path "$target"
  ev cert_backup_sha256 "$sha"
  exit 0
fi
mkdir -p -- "$dir"
chmod 0700 -- "$dir"
cp -p -- "$cert" "$target"
[[ "$(sha256sum -- "$target" | cut -d' ' -f1)" == "$sha" ]] || { echo "backup copy differs from $cert" >&2; exit 1; }
printf '%s\n' "$target" >"$MSP_WORK_DIR/cert_backup_path"
ev cert_backup_path "$target"
ev cert_backup_sha256 "$sha"
