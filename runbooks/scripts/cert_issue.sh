#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CERT-001 step 3 (issue_certificate): obtains a new certificate for the
# same subject and key into the work directory (installing it is the next
# step). Two ways, chosen by renew_method:
#   internal_ca  the clinic's own CA: a request is made from the current
#                certificate and key (subject and extensions such as SANs
#                copied) and signed with the CA for validity_days.
#   acme         a site-provided ACME client executable (a wrapper around
#                certbot, lego or acme.sh) is run directly, never through a
#                shell, with a minimal environment: MSP_ACME_CERT_PATH,
#                MSP_ACME_KEY_PATH, MSP_ACME_DOMAIN, MSP_ACME_SANS (comma list),
#                MSP_ACME_VALIDITY_DAYS and MSP_ACME_OUTPUT, where it must write
#                the new PEM certificate.
# A certificate outside the renewal window is left alone unless force_renew.
#
# Reads:  MSP_PARAM_CERT_PATH, MSP_PARAM_KEY_PATH, MSP_PARAM_CA_CERT_PATH, MSP_PARAM_CA_KEY_PATH,
#         MSP_ROOTS_CERTS, MSP_PARAM_ACME_CLIENT, MSP_ROOTS_ACME_CLIENTS, MSP_PARAM_RENEW_METHOD,
#         MSP_PARAM_RENEW_WITHIN_DAYS, MSP_PARAM_VALIDITY_DAYS, MSP_PARAM_FORCE_RENEW,
#         MSP_WORK_DIR, MSP_DRY_RUN
# Writes: $MSP_WORK_DIR/cert-new.pem (or the marker cert_not_needed)
# Prints: renew_method, renewal_status (issued | not_needed | dry_run), new_cert_serial
# Exit:   0 ok, 1 failed, 64 misuse, 65 refused
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
read_int validity MSP_PARAM_VALIDITY_DAYS 90 1 825
method="${MSP_PARAM_RENEW_METHOD:-internal_ca}"
case "$method" in internal_ca | acme) ;; *) refuse "invalid_renew_method" "renew_method must be internal_ca or acme" ;; esac
force=no
case "${MSP_PARAM_FORCE_RENEW:-false}" in true | 1) force=yes ;; false | 0 | "") ;; *) refuse "invalid_force_renew" "force_renew must be true or false" ;; esac
ev renew_method "$method"

staged="$MSP_WORK_DIR/cert-new.pem"
rm -f -- "$staged" "$MSP_WORK_DIR/cert_not_needed"
if [[ "$force" == no ]] && openssl x509 -in "$cert" -noout -checkend "$((within * 86400))" >/dev/null; then
  echo "certificate is valid for more than $within days; not renewing" >&2
  : >"$MSP_WORK_DIR/cert_not_needed"
  ev renewal_status not_needed
  ev new_cert_serial none
  exit 0
fi
[[ -f "$key" ]] || { echo "key $key does not exist" >&2; exit 1; }
# Renewal keeps the key, so the key on disk must be the certificate's own.
[[ "$(cert_pubkey_sha "$cert")" == "$(key_pubkey_sha "$key")" ]] || { echo "key $key does not belong to $cert" >&2; exit 1; }

if [[ "$method" == internal_ca ]]; then
  path_in_roots ca_cert MSP_PARAM_CA_CERT_PATH MSP_ROOTS_CERTS
  path_in_roots ca_key MSP_PARAM_CA_KEY_PATH MSP_ROOTS_CERTS
  [[ -f "$ca_cert" && -f "$ca_key" ]] || { echo "CA certificate or key missing" >&2; exit 1; }
else
  path_in_roots client MSP_PARAM_ACME_CLIENT MSP_ROOTS_ACME_CLIENTS
  [[ -f "$client" && -x "$client" ]] || { echo "ACME client $client is not an executable file" >&2; exit 1; }
fi

if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would renew $cert through $method for $validity days" >&2
  ev dry_run 1
  ev renewal_status dry_run
  ev new_cert_serial none
  exit 0
fi

umask 077
if [[ "$method" == internal_ca ]]; then
  req="$MSP_WORK_DIR/cert-renew.csr"
  openssl x509 -x509toreq -in "$cert" -signkey "$key" -copy_extensions copyall -out "$req"
  # A random 128-bit serial, as CAs must not reuse serials.
  serial=$(openssl rand -hex 16)
  openssl x509 -req -in "$req" -CA "$ca_cert" -CAkey "$ca_key" -days "$validity" \
    -copy_extensions copyall -set_serial "0x$serial" -out "$staged"
  rm -f -- "$req"
else
  cn=$(openssl x509 -in "$cert" -noout -subject -nameopt multiline | awk -F' = ' '/commonName/ { print $2; exit }')
  sans=$(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^,]*' | cut -c5- | paste -sd, -) || sans=""
  env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="${HOME:-/root}" \
    MSP_ACME_CERT_PATH="$cert" MSP_ACME_KEY_PATH="$key" MSP_ACME_DOMAIN="$cn" MSP_ACME_SANS="$sans" \
    MSP_ACME_VALIDITY_DAYS="$validity" MSP_ACME_OUTPUT="$staged" \
    "$client" </dev/null >&2 || { echo "ACME client $client failed" >&2; exit 1; }
fi

[[ -s "$staged" ]] || { echo "no certificate was produced" >&2; exit 1; }
serial=$(openssl x509 -in "$staged" -noout -serial) || { echo "the new certificate does not parse" >&2; exit 1; }
ev renewal_status issued
ev new_cert_serial "${serial#serial=}"
