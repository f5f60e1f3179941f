#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CPU-001 step 4 and post-execution validation (verify_cpu): confirms the
# remediation took effect (the terminated process is gone; the restarted
# service runs again under a new pid) and samples CPU again to report whether
# usage is back under the threshold. Read-only.
#
# Reads:  MSP_WORK_DIR (cpu_plan, cpu_remediation), MSP_PARAM_CPU_THRESHOLD_PERCENT,
#         MSP_PARAM_SAMPLE_MS, MSP_PARAM_PROCESS_NAME, MSP_SERVICE_MANAGER,
#         MSP_SUPERVISOR_CONF, MSP_DRY_RUN
# Prints: remediation_verified (yes | no | skipped), cpu_top_after_process,
#         cpu_top_after_percent, cpu_normal (yes | no)
# Exit:   0 verified (or nothing to verify), 1 the remediation did not hold, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/service.sh"
source "$MSP_LIB_DIR/proc.sh"

# Optional: only processes of this name (the name the incident reported).
only="${MSP_PARAM_PROCESS_NAME:-}"
[[ -z "$only" || "$only" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$ ]] || refuse "invalid_process_name" "process_name is malformed"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
read_int threshold MSP_PARAM_CPU_THRESHOLD_PERCENT 90 1 6400
read_int sample_ms MSP_PARAM_SAMPLE_MS 3000 100 30000

verified=yes
if [[ -f "$MSP_WORK_DIR/cpu_plan" ]]; then
  IFS=$'\t' read -r action pid start _ service <"$MSP_WORK_DIR/cpu_plan"
  [[ "$pid" =~ ^[0-9]{1,9}$ && "$start" =~ ^[0-9]{1,20}$ ]] || refuse "invalid_plan" "cpu_plan in the work directory is malformed"
  if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
    verified=skipped
  elif [[ "$(proc_start "$pid" || true)" == "$start" ]]; then
    verified=no
    echo "process $pid is still running" >&2
  elif [[ "$action" == restart_service ]]; then
    [[ "$service" =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$ ]] || refuse "invalid_plan" "cpu_plan names a malformed service"
    if ! { svc_probe "$service" && svc_running; }; then
      verified=no
      echo "service $service is not running after its restart" >&2
    fi
  fi
fi

after_pct=0
after_name=none
after=$(sample_cpu "$sample_ms" "$only" | head -n 1) || true
[[ -n "$after" ]] && IFS=$'\t' read -r after_pct _ _ after_name <<<"$after"
ev remediation_verified "$verified"
ev cpu_top_after_process "$after_name"
ev cpu_top_after_percent "$after_pct"
if ((after_pct < threshold)); then ev cpu_normal yes; else ev cpu_normal no; fi
[[ "$verified" != no ]] || exit 1
