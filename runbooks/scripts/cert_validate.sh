#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CERT-001 post-execution validation (certificate_valid): the installed
# certificate parses, belongs to the key and stays valid beyond the renewal
# window. Read-only.
#
# Reads:  MSP_PARAM_CERT_PATH, MSP_PARAM_KEY_PATH, MSP_ROOTS_CERTS, MSP_PARAM_RENEW_WITHIN_DAYS
# Prints: cert_valid (yes | no), cert_days_left
# Exit:   0 valid, 1 otherwise, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/cert.sh"

path_in_roots cert MSP_PARAM_CERT_PATH MSP_ROOTS_CERTS
path_in_roots key MSP_PARAM_KEY_PATH MSP_ROOTS_CERTS
read_int within MSP_PARAM_RENEW_WITHIN_DAYS 30 1 365
end=$(cert_end_epoch "$cert") || { ev cert_valid no; echo "cannot parse $cert" >&2; exit 1; }
ev cert_days_left "$(((end - $(date +%s)) / 86400))"
if openssl x509 -in "$cert" -noout -checkend "$((within * 86400))" >/dev/null &&
  [[ "$(cert_pubkey_sha "$cert")" == "$(key_pubkey_sha "$key")" ]]; then
  ev cert_valid yes
else
  ev cert_valid no
  exit 1
fi
