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
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/service.sh"
source "$MSP_LIB_DIR/proc.sh"

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
