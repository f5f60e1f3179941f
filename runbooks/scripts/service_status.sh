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

ev() { local v="${2//[$'\n\r\t']/ }"; printf '%s=%s\n' "$1" "${v//[^[:print:]]/}"; }
refuse() { ev refused "$1"; echo "refused: $2" >&2; exit 65; }
# Values come only from the environment; argv is refused so nothing can be pasted into a command line.
if (($# > 0)); then ev refused argv; echo "this script takes no arguments" >&2; exit 64; fi

# Whether $1 is one of the space-separated names in $2 (exact match only).
in_list() {
  local item
  local -a names
  read -r -a names <<<"$2"
  for item in "${names[@]}"; do [[ "$item" == "$1" ]] && return 0; done
  return 1
}

# Service-manager adapter: the only code that tells systemd from supervisor.
manager="${MSP_SERVICE_MANAGER:-systemd}"
case "$manager" in
  systemd | supervisor) ;;
  *) refuse "invalid_service_manager" "MSP_SERVICE_MANAGER must be systemd or supervisor" ;;
esac
supervisor() {
  [[ -n "${MSP_SUPERVISOR_CONF:-}" ]] || { echo "MSP_SUPERVISOR_CONF is required for the supervisor adapter" >&2; exit 64; }
  supervisorctl -c "$MSP_SUPERVISOR_CONF" "$@"
}
# Reads service $1's state word (systemd ActiveState, supervisor state) into
# svc_state and its main pid (0 when not running) into svc_pid with a single
# call to the manager; fails if the manager does not know the service.
svc_probe() {
  local out rc=0
  svc_state=""
  svc_pid=0
  if [[ "$manager" == systemd ]]; then
    out=$(systemctl show -p LoadState -p ActiveState -p MainPID -- "$1") || return 1
    [[ "$out" != *LoadState=not-found* ]] || return 1
    svc_state=$(sed -n 's/^ActiveState=//p' <<<"$out")
    svc_pid=$(sed -n 's/^MainPID=//p' <<<"$out")
  else
    # supervisorctl status exits 3 for a stopped program and 4 for an unknown one.
    out=$(supervisor status "$1") || rc=$?
    ((rc == 0 || rc == 3)) || return 1
    svc_state=$(awk 'NR == 1 { print $2 }' <<<"$out")
    if [[ "$out" =~ pid\ ([0-9]+), ]]; then svc_pid="${BASH_REMATCH[1]}"; fi
  fi
  [[ "$svc_pid" =~ ^[0-9]+$ ]] || svc_pid=0
}
# Whether the last svc_probe saw the service running.
svc_running() { [[ "$svc_state" == active || "$svc_state" == RUNNING ]]; }
# Restarts service $1; supervisor's restart also starts a program that has exited.
svc_restart() {
  if [[ "$manager" == systemd ]]; then
    systemctl restart -- "$1" >&2
  else
    supervisor restart "$1" >&2
  fi
}

# The service name is checked for shape (it can then never be read as an
# option) and against the allow-list before anything else happens.
name="${MSP_PARAM_SERVICE_NAME:-}"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$ ]] || refuse "invalid_service_name" "service_name is missing or malformed"
if ! in_list "$name" "${MSP_SERVICE_ALLOWLIST:-}"; then
  ev refused_name "$name"
  refuse "not_allowlisted" "service $name is not in MSP_SERVICE_ALLOWLIST"
fi

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
ev service_name "$name"
ev service_manager "$manager"
ev service_allowlisted yes
svc_probe "$name" || { echo "$manager does not know service $name" >&2; exit 1; }
printf '%s\n' "$svc_pid" >"$MSP_WORK_DIR/service_pid_before"
ev service_state "$svc_state"
ev service_pid "$svc_pid"
