#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CERT-001 step 4 (install_certificate): checks the new certificate from
# issue_certificate before it replaces the current one: it must parse, carry
# the same subject, belong to the same key, outlast the renewal window and,
# for internal_ca, chain to the clinic CA. Then it is installed atomically
# (same directory, same mode and owner, rename over the old file). When no
# renewal was needed it only re-checks the current certificate.
#
# Reads:  MSP_PARAM_CERT_PATH, MSP_PARAM_KEY_PATH, MSP_PARAM_CA_CERT_PATH, MSP_ROOTS_CERTS,
#         MSP_PARAM_RENEW_METHOD, MSP_PARAM_RENEW_WITHIN_DAYS, MSP_WORK_DIR, MSP_DRY_RUN
# Writes: the certificate file; $MSP_WORK_DIR/cert_installed (marker for rollback)
# Prints: cert_installed (yes | unchanged | dry_run | no), new_cert_not_after,
#         new_cert_days_remaining, new_cert_fingerprint_sha256, cert_valid_for_window (yes | no)
# Exit:   0 ok, 1 the new certificate is unacceptable, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/cert.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
path_in_roots cert MSP_PARAM_CERT_PATH MSP_ROOTS_CERTS
path_in_roots key MSP_PARAM_KEY_PATH MSP_ROOTS_CERTS
read_int within MSP_PARAM_RENEW_WITHIN_DAYS 30 1 365
method="${MSP_PARAM_RENEW_METHOD:-internal_ca}"
staged="$MSP_WORK_DIR/cert-new.pem"

report() { # report <file> <installed>
  local end
  end=$(cert_end_epoch "$1")
  ev cert_installed "$2"
  ev new_cert_not_after "$(date -u -d "@$end" +%FT%TZ)"
  ev new_cert_days_remaining "$(((end - $(date +%s)) / 86400))"
  ev new_cert_fingerprint_sha256 "$(cert_fingerprint "$1")"
}
reject() {
  echo "new certificate rejected: $1" >&2
  ev cert_installed no
  ev cert_valid_for_window no
  exit 1
}

if [[ -f "$MSP_WORK_DIR/cert_not_needed" ]]; then
  report "$cert" unchanged
  if openssl x509 -in "$cert" -noout -checkend "$((within * 86400))" >/dev/null; then
    ev cert_valid_for_window yes
    exit 0
  fi
  ev cert_valid_for_window no
  exit 1
fi
if [[ ! -f "$staged" && "${MSP_DRY_RUN:-0}" == 1 ]]; then
  # Nothing was issued, so the figures reported are the current certificate's.
  echo "dry run: no certificate was issued, nothing to install" >&2
  ev dry_run 1
  report "$cert" dry_run
  if openssl x509 -in "$cert" -noout -checkend "$((within * 86400))" >/dev/null; then
    ev cert_valid_for_window yes
  else
    ev cert_valid_for_window no
  fi
  exit 0
fi
[[ -f "$staged" ]] || reject "issue_certificate produced no certificate"
openssl x509 -in "$staged" -noout >/dev/null 2>&1 || reject "it does not parse"
[[ "$(cert_subject "$staged")" == "$(cert_subject "$cert")" ]] || reject "its subject differs from the current one"
[[ "$(cert_pubkey_sha "$staged")" == "$(key_pubkey_sha "$key")" ]] || reject "it does not belong to key $key"
openssl x509 -in "$staged" -noout -checkend "$((within * 86400))" >/dev/null || reject "it expires within $within days"
if [[ "$method" == internal_ca ]]; then
  path_in_roots ca_cert MSP_PARAM_CA_CERT_PATH MSP_ROOTS_CERTS
  openssl verify -CAfile "$ca_cert" "$staged" >/dev/null 2>&1 || reject "it does not chain to $ca_cert"
fi

if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would install the new certificate over $cert" >&2
  ev dry_run 1
  report "$staged" dry_run
  ev cert_valid_for_window yes
  exit 0
fi
tmp="${cert%/*}/.${cert##*/}.msp-new.$$"
cp -- "$staged" "$tmp"
chmod --reference="$cert" -- "$tmp"
chown --reference="$cert" -- "$tmp" 2>/dev/null || true
# The marker is written before the rename: if the run dies between the two,
# rollback restores the backup (the same old certificate), which is harmless;
# the other order could leave an installed certificate rollback does not know about.
: >"$MSP_WORK_DIR/cert_installed"
mv -f -- "$tmp" "$cert"
report "$cert" yes
ev cert_valid_for_window yes
