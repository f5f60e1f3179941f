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
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/service.sh"
source "$MSP_LIB_DIR/proc.sh"

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
