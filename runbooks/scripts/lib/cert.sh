# shellcheck shell=bash
# Helpers over openssl's output, so that every RB-CERT-001 step reads
# certificates the same way. Sourced after common.sh; pinned and provided
# through MSP_LIB_DIR like it.
#
# Defines: cert_subject, cert_end_epoch, cert_fingerprint, cert_pubkey_sha, key_pubkey_sha

cert_subject() { local s; s=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253) && printf '%s' "${s#subject=}"; }
cert_end_epoch() { local s; s=$(openssl x509 -in "$1" -noout -enddate) && date -u -d "${s#notAfter=}" +%s; }
cert_fingerprint() { local s; s=$(openssl x509 -in "$1" -noout -fingerprint -sha256) && s="${s#*=}" && s="${s//:/}" && printf '%s' "${s,,}"; }
cert_pubkey_sha() { openssl x509 -in "$1" -noout -pubkey | sha256sum | cut -d' ' -f1; }
key_pubkey_sha() { openssl pkey -in "$1" -pubout | sha256sum | cut -d' ' -f1; }
