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
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

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
