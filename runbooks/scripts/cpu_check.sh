#!/usr/bin/env bash
# RB-CPU-001 step 2 (check_legitimacy): decides what may be done about the
# top consumer. If it is (or descends from) the main process of an
# allow-listed service, the plan is to restart that service (killing it would
# only make its manager respawn it); else if its name is in the process
# allow-list, the plan is to terminate it; anything else is refused.
# Read-only.
#
# Reads:  MSP_WORK_DIR (cpu_target), MSP_PROCESS_ALLOWLIST, MSP_SERVICE_ALLOWLIST,
#         MSP_SERVICE_MANAGER, MSP_SUPERVISOR_CONF
# Writes: $MSP_WORK_DIR/cpu_plan
# Prints: target_pid, target_process, target_service, process_allowlisted (yes | no | not_applicable),
#         planned_action (restart_service | terminate | none)
# Exit:   0 ok, 64 misuse, 65 refused (not allow-listed, or a protected process)
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

# Start time (clock ticks after boot) of a live, non-zombie pid $1; fails when it is gone.
proc_start() {
  local line rest
  local -a fields
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  rest="${line##*) }"
  read -r -a fields <<<"$rest"
  [[ "${fields[0]}" != Z && "${fields[0]}" != X ]] || return 1
  printf '%s' "${fields[19]}"
}

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
rm -f -- "$MSP_WORK_DIR/cpu_plan"

nothing() {
  ev target_pid 0
  ev target_process none
  ev target_service none
  ev process_allowlisted not_applicable
  ev planned_action none
  echo "$1" >&2
  exit 0
}
[[ -f "$MSP_WORK_DIR/cpu_target" ]] || nothing "no process is over the threshold"
IFS=$'\t' read -r pid start pname _ <"$MSP_WORK_DIR/cpu_target"
# The target file is input too: check its shape before using it.
[[ "$pid" =~ ^[0-9]{1,9}$ && "$start" =~ ^[0-9]{1,20}$ && "$pname" =~ ^[A-Za-z0-9._:@/-]{1,64}$ ]] ||
  refuse "invalid_target" "cpu_target in the work directory is malformed"
[[ "$(proc_start "$pid" || true)" == "$start" ]] || nothing "process $pid has exited since it was measured"
if ((pid <= 1 || pid == $$ || pid == PPID)); then
  ev refused_name "$pname"
  refuse "protected_process" "pid $pid may never be acted on"
fi

# Whether pid $1 is $2 or one of its descendants.
descends_from() {
  local p="$1" line rest
  local -a fields
  while ((p > 1)); do
    ((p == $2)) && return 0
    { read -r line <"/proc/$p/stat"; } 2>/dev/null || return 1
    rest="${line##*) }"
    read -r -a fields <<<"$rest"
    p="${fields[1]}"
  done
  return 1
}
service=none
read -r -a services <<<"${MSP_SERVICE_ALLOWLIST:-}"
for s in "${services[@]}"; do
  [[ "$s" =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$ ]] || continue
  svc_probe "$s" || continue
  if ((svc_pid > 1)) && descends_from "$pid" "$svc_pid"; then
    service="$s"
    break
  fi
done

ev target_pid "$pid"
ev target_process "$pname"
ev target_service "$service"
if [[ "$service" != none ]]; then
  action=restart_service
elif in_list "$pname" "${MSP_PROCESS_ALLOWLIST:-}"; then
  action=terminate
else
  ev process_allowlisted no
  ev refused_name "$pname"
  refuse "not_allowlisted" "process $pname (pid $pid) is neither an allow-listed process nor part of an allow-listed service"
fi
printf '%s\t%s\t%s\t%s\t%s\n' "$action" "$pid" "$start" "$pname" "$service" >"$MSP_WORK_DIR/cpu_plan"
ev process_allowlisted yes
ev planned_action "$action"
