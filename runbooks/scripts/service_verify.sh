#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-SERVICE-001 step 4 and post-execution validation (verify_running): waits
# up to verify_wait_seconds for the service to be running, then checks it is
# still running with the same pid a second later, so a service that crashes
# straight after starting is not reported as fixed. Read-only.
#
# Reads:  MSP_PARAM_SERVICE_NAME, MSP_PARAM_VERIFY_WAIT_SECONDS, MSP_SERVICE_ALLOWLIST,
#         MSP_SERVICE_MANAGER, MSP_SUPERVISOR_CONF, MSP_WORK_DIR
# Prints: service_state_after, service_pid_after, pid_changed (yes | no | unknown),
#         service_running (yes | no)
# Exit:   0 running, 1 not running, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/service.sh"

# The service name is checked for shape (it can then never be read as an
# option) and against the allow-list before anything else happens.
name="${MSP_PARAM_SERVICE_NAME:-}"
allowed_service "$name" "service_name is missing or malformed"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
read_int wait_s MSP_PARAM_VERIFY_WAIT_SECONDS 15 1 120
ticks=$((wait_s * 2))
until svc_probe "$name" && svc_running; do
  ((ticks-- > 0)) || break
  sleep 0.5
done
running=no
pid=0
if svc_running; then
  pid=$svc_pid
  sleep 1
  if svc_probe "$name" && svc_running && [[ "$svc_pid" == "$pid" ]]; then running=yes; fi
fi
state="${svc_state:-unknown}"
before=""
[[ -f "$MSP_WORK_DIR/service_pid_before" ]] && before=$(head -n 1 -- "$MSP_WORK_DIR/service_pid_before")
ev service_state_after "$state"
ev service_pid_after "$pid"
if [[ ! "$before" =~ ^[0-9]+$ ]]; then
  ev pid_changed unknown
elif [[ "$before" != "$pid" ]]; then
  ev pid_changed yes
else
  ev pid_changed no
fi
ev service_running "$running"
[[ "$running" == yes ]] || { echo "$name is not running (state $state)" >&2; exit 1; }
