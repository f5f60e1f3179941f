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

# Helpers over openssl's output, so that every step reads certificates the same way.
cert_subject() { local s; s=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253) && printf '%s' "${s#subject=}"; }
cert_end_epoch() { local s; s=$(openssl x509 -in "$1" -noout -enddate) && date -u -d "${s#notAfter=}" +%s; }
cert_fingerprint() { local s; s=$(openssl x509 -in "$1" -noout -fingerprint -sha256) && s="${s#*=}" && s="${s//:/}" && printf '%s' "${s,,}"; }
cert_pubkey_sha() { openssl x509 -in "$1" -noout -pubkey | sha256sum | cut -d' ' -f1; }
key_pubkey_sha() { openssl pkey -in "$1" -pubout | sha256sum | cut -d' ' -f1; }

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
