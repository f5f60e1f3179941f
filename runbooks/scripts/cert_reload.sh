#!/usr/bin/env bash
# RB-CERT-001 step 5 (reload_services): restarts the allow-listed services
# named in reload_services so they serve the new certificate, through the
# service-manager adapter (systemd: reload-or-restart; supervisor: restart,
# as supervisor has no reload). Skipped when no certificate was installed.
#
# Reads:  MSP_PARAM_RELOAD_SERVICES, MSP_SERVICE_ALLOWLIST, MSP_SERVICE_MANAGER,
#         MSP_SUPERVISOR_CONF, MSP_WORK_DIR, MSP_DRY_RUN
# Prints: services_reloaded (count), reloaded_services (comma list),
#         reload_status (ok | none | not_needed | dry_run | failed)
# Exit:   0 ok, 1 a reload failed, 64 misuse, 65 refused (service not allow-listed)
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
manager="${MSP_SERVICE_MANAGER:-systemd}"
case "$manager" in
  systemd) ;;
  supervisor) : "${MSP_SUPERVISOR_CONF:?MSP_SUPERVISOR_CONF is required for the supervisor adapter}" ;;
  *) refuse "invalid_service_manager" "MSP_SERVICE_MANAGER must be systemd or supervisor" ;;
esac
read -r -a reload <<<"${MSP_PARAM_RELOAD_SERVICES:-}"
# Checked again here (check_expiry did it first) because each step must be safe on its own.
for s in "${reload[@]}"; do
  allowed_service "$s" "reload service name is malformed"
done

if ((${#reload[@]} == 0)); then
  ev services_reloaded 0
  ev reloaded_services none
  ev reload_status none
  exit 0
fi
if [[ ! -f "$MSP_WORK_DIR/cert_installed" ]]; then
  echo "no new certificate was installed; services keep running as they are" >&2
  ev services_reloaded 0
  ev reloaded_services none
  ev reload_status not_needed
  exit 0
fi
if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would reload ${reload[*]} through $manager" >&2
  ev dry_run 1
  ev services_reloaded 0
  ev reloaded_services none
  ev reload_status dry_run
  exit 0
fi

done_list=()
failed=0
for s in "${reload[@]}"; do
  # Names were checked against a pattern that cannot start with '-', so none is read as an option.
  if [[ "$manager" == systemd ]]; then
    systemctl reload-or-restart -- "$s" >&2 || { failed=1; echo "systemctl reload-or-restart $s failed" >&2; continue; }
  else
    supervisorctl -c "$MSP_SUPERVISOR_CONF" restart "$s" >&2 || { failed=1; echo "supervisorctl restart $s failed" >&2; continue; }
  fi
  done_list+=("$s")
done
ev services_reloaded "${#done_list[@]}"
if ((${#done_list[@]} > 0)); then ev reloaded_services "$(IFS=,; echo "${done_list[*]}")"; else ev reloaded_services none; fi
if ((failed)); then
  ev reload_status failed
  exit 1
fi
ev reload_status ok
