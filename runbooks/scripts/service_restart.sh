#!/usr/bin/env bash
# RB-SERVICE-001 step 3 (restart_service): restarts the allow-listed service
# through the service-manager adapter (systemctl restart, or supervisorctl
# restart, which also starts a program that has exited).
#
# Reads:  MSP_PARAM_SERVICE_NAME, MSP_SERVICE_ALLOWLIST, MSP_SERVICE_MANAGER,
#         MSP_SUPERVISOR_CONF, MSP_DRY_RUN
# Prints: restart_method (systemctl | supervisorctl), restart_exit_code,
#         service_restarted (yes | dry_run | no)
# Exit:   0 restarted, 1 the manager failed, 64 misuse, 65 refused (not allow-listed)
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

if [[ "$manager" == systemd ]]; then ev restart_method systemctl; else ev restart_method supervisorctl; fi
if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would restart $name through $manager" >&2
  ev dry_run 1
  ev restart_exit_code 0
  ev service_restarted dry_run
  exit 0
fi
rc=0
svc_restart "$name" || rc=$?
ev restart_exit_code "$rc"
if ((rc == 0)); then
  ev service_restarted yes
else
  ev service_restarted no
  echo "restarting $name through $manager failed (exit $rc)" >&2
  exit 1
fi
