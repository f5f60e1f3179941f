#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CERT-001 rollback (restore_previous_certificate): puts the backed-up
# certificate back if this run installed a new one, atomically, keeping the
# file's mode and owner. Does nothing when nothing was installed.
#
# Reads:  MSP_PARAM_CERT_PATH, MSP_ROOTS_CERTS, MSP_STATE_DIR, MSP_WORK_DIR, MSP_DRY_RUN
# Prints: rollback_cert_restored (yes | no | dry_run)
# Exit:   0 ok, 1 failed, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
: "${MSP_STATE_DIR:?MSP_STATE_DIR is required}"
path_in_roots cert MSP_PARAM_CERT_PATH MSP_ROOTS_CERTS
rm -f -- "$MSP_WORK_DIR/cert-new.pem"
if [[ ! -f "$MSP_WORK_DIR/cert_installed" || ! -f "$MSP_WORK_DIR/cert_backup_path" ]]; then
  ev rollback_cert_restored no
  exit 0
fi
backup=$(head -n 1 -- "$MSP_WORK_DIR/cert_backup_path")
state=$(realpath -m -- "$MSP_STATE_DIR/cert-backups")
# The recorded path is input too: only a file directly in our backup directory is restored.
[[ "$(realpath -m -- "$backup")" == "$state"/* && -f "$backup" ]] || refuse "invalid_backup_path" "recorded backup $backup is not in $state"
if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would restore $backup over $cert" >&2
  ev rollback_cert_restored dry_run
  exit 0
fi
tmp="${cert%/*}/.${cert##*/}.msp-restore.$$"
cp -- "$backup" "$tmp"
chmod --reference="$cert" -- "$tmp"
chown --reference="$cert" -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" "$cert"
rm -f -- "$MSP_WORK_DIR/cert_installed"
ev rollback_cert_restored yes
