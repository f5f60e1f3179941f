# shellcheck shell=bash
# The service-manager adapter: the only code that tells systemd from
# supervisor. Sourced after common.sh by the scripts that look at or restart
# services; refuses an unknown MSP_SERVICE_MANAGER when sourced. Pinned and
# provided through MSP_LIB_DIR like common.sh.
#
# Reads:   MSP_SERVICE_MANAGER, MSP_SUPERVISOR_CONF
# Defines: manager, supervisor, svc_probe (svc_state, svc_pid), svc_running, svc_restart

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
