#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CERT-001 step 1 (check_expiry): reads the certificate's subject, expiry
# and fingerprint and decides with `openssl x509 -checkend` whether it expires
# inside the renewal window. It also refuses, before anything changes, a
# reload list naming a service that is not allow-listed. Read-only.
#
# Reads:  MSP_PARAM_CERT_PATH, MSP_ROOTS_CERTS, MSP_PARAM_RENEW_WITHIN_DAYS,
#         MSP_PARAM_RELOAD_SERVICES, MSP_SERVICE_ALLOWLIST
# Prints: cert_subject, cert_not_after, cert_days_remaining, cert_fingerprint_sha256,
#         renewal_needed (yes | no)
# Exit:   0 ok, 1 unreadable certificate, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/cert.sh"

path_in_roots cert MSP_PARAM_CERT_PATH MSP_ROOTS_CERTS
read_int within MSP_PARAM_RENEW_WITHIN_DAYS 30 1 365
read -r -a reload <<<"${MSP_PARAM_RELOAD_SERVICES:-}"
for s in "${reload[@]}"; do
  allowed_service "$s" "reload service name is malformed"
done
[[ -f "$cert" ]] || { echo "certificate $cert does not exist" >&2; exit 1; }

end=$(cert_end_epoch "$cert") || { echo "cannot parse $cert" >&2; exit 1; }
now=$(date +%s)
ev cert_subject "$(cert_subject "$cert")"
ev cert_not_after "$(date -u -d "@$end" +%FT%TZ)"
ev cert_days_remaining "$(((end - now) / 86400))"
ev cert_fingerprint_sha256 "$(cert_fingerprint "$cert")"
if openssl x509 -in "$cert" -noout -checkend "$((within * 86400))" >/dev/null; then
  ev renewal_needed no
else
  ev renewal_needed yes
fi
