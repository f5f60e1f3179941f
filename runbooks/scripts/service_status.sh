#!/usr/bin/env bash
# RB-SERVICE-001 step 1 (check_status): refuses a service that is not
# allow-listed, then records the service's state and main pid through the
# service-manager adapter. Read-only.
#
# Reads:  MSP_PARAM_SERVICE_NAME, MSP_SERVICE_ALLOWLIST, MSP_SERVICE_MANAGER,
#         MSP_SUPERVISOR_CONF, MSP_WORK_DIR
# Writes: $MSP_WORK_DIR/service_pid_before
# Prints: service_name, service_manager, service_allowlisted, service_state, service_pid
# Exit:   0 ok, 1 unknown service, 64 misuse, 65 refused (not allow-listed)
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
ev service_name "$name"
ev service_manager "$manager"
ev service_allowlisted yes
svc_probe "$name" || { echo "$manager does not know service $name" >&2; exit 1; }
printf '%s\n' "$svc_pid" >"$MSP_WORK_DIR/service_pid_before"
ev service_state "$svc_state"
ev service_pid "$svc_pid"
