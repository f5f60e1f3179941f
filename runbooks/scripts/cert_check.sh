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
    [[ "$rroot" == / ]] && continue
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

# Helpers over openssl's output, so that every step reads certificates the same way.
cert_subject() { local s; s=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253) && printf '%s' "${s#subject=}"; }
cert_end_epoch() { local s; s=$(openssl x509 -in "$1" -noout -enddate) && date -u -d "${s#notAfter=}" +%s; }
cert_fingerprint() { local s; s=$(openssl x509 -in "$1" -noout -fingerprint -sha256) && s="${s#*=}" && s="${s//:/}" && printf '%s' "${s,,}"; }
cert_pubkey_sha() { openssl x509 -in "$1" -noout -pubkey | sha256sum | cut -d' ' -f1; }
key_pubkey_sha() { openssl pkey -in "$1" -pubout | sha256sum | cut -d' ' -f1; }

path_in_roots cert MSP_PARAM_CERT_PATH MSP_ROOTS_CERTS
read_int within MSP_PARAM_RENEW_WITHIN_DAYS 30 1 365
read -r -a reload <<<"${MSP_PARAM_RELOAD_SERVICES:-}"
for s in "${reload[@]}"; do
  [[ "$s" =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$ ]] || refuse "invalid_service_name" "reload service name is malformed"
  if ! in_list "$s" "${MSP_SERVICE_ALLOWLIST:-}"; then
    ev refused_name "$s"
    refuse "not_allowlisted" "service $s is not in MSP_SERVICE_ALLOWLIST"
  fi
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
