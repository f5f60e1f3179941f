#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CPU-001 step 3 (remediate_runaway): carries out check_legitimacy's plan.
# terminate: SIGTERM, then SIGKILL if the process outlives grace_seconds.
# restart_service: a restart through the service-manager adapter. Before
# acting it re-checks the allow-lists and that the pid still is the same
# process (same start time), because pids are reused.
#
# Reads:  MSP_WORK_DIR (cpu_plan), MSP_PARAM_GRACE_SECONDS, MSP_PROCESS_ALLOWLIST,
#         MSP_SERVICE_ALLOWLIST, MSP_SERVICE_MANAGER, MSP_SUPERVISOR_CONF, MSP_DRY_RUN
# Prints: remediation (terminated | restarted_service | none | dry_run),
#         signal_sent (TERM | KILL | none), target_stopped (yes | no | not_applicable)
# Exit:   0 ok, 1 the process survived or the restart failed, 64 misuse, 65 refused
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
read_int grace MSP_PARAM_GRACE_SECONDS 10 1 120

result() {
  ev remediation "$1"
  ev signal_sent "$2"
  ev target_stopped "$3"
}
if [[ ! -f "$MSP_WORK_DIR/cpu_plan" ]]; then
  result none none not_applicable
  exit 0
fi
IFS=$'\t' read -r action pid start pname service <"$MSP_WORK_DIR/cpu_plan"
[[ "$pid" =~ ^[0-9]{1,9}$ && "$start" =~ ^[0-9]{1,20}$ ]] || refuse "invalid_plan" "cpu_plan in the work directory is malformed"
printf '%s\n' "$action" >"$MSP_WORK_DIR/cpu_remediation"

# Waits up to $2 seconds for the measured process to be gone. Counted in
# 0.2 s ticks: $SECONDS has whole-second steps and would cut the grace short.
gone_within() {
  local ticks=$(($2 * 5))
  while [[ "$(proc_start "$1" || true)" == "$start" ]]; do
    ((ticks-- > 0)) || return 1
    sleep 0.2
  done
}

case "$action" in
  terminate)
    if ! in_list "$pname" "${MSP_PROCESS_ALLOWLIST:-}"; then
      ev refused_name "$pname"
      refuse "not_allowlisted" "process $pname is not in MSP_PROCESS_ALLOWLIST"
    fi
    ((pid > 1 && pid != $$ && pid != PPID)) || refuse "protected_process" "pid $pid may never be acted on"
    if [[ "$(proc_start "$pid" || true)" != "$start" ]]; then
      echo "process $pid exited on its own" >&2
      result none none yes
      exit 0
    fi
    # /proc/<pid>/comm must still be the allow-listed name (the pid could have exec'd something else).
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$pname" ]] || refuse "target_changed" "pid $pid no longer runs $pname"
    if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
      echo "dry run: would send SIGTERM to $pname (pid $pid), then SIGKILL after ${grace}s" >&2
      ev dry_run 1
      result dry_run none no
      exit 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if gone_within "$pid" "$grace"; then
      result terminated TERM yes
      exit 0
    fi
    echo "$pname (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    if gone_within "$pid" 5; then
      result terminated KILL yes
      exit 0
    fi
    result terminated KILL no
    exit 1
    ;;
  restart_service)
    if ! in_list "$service" "${MSP_SERVICE_ALLOWLIST:-}"; then
      ev refused_name "$service"
      refuse "not_allowlisted" "service $service is not in MSP_SERVICE_ALLOWLIST"
    fi
    if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
      echo "dry run: would restart service $service through $manager" >&2
      ev dry_run 1
      result dry_run none no
      exit 0
    fi
    svc_restart "$service" || { result restarted_service none no; echo "restart of $service failed" >&2; exit 1; }
    if gone_within "$pid" "$grace"; then result restarted_service none yes; else result restarted_service none no; exit 1; fi
    ;;
  *)
    result none none not_applicable
    ;;
esac
