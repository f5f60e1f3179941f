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

# Optional: only processes of this name (the name the incident reported).
only="${MSP_PARAM_PROCESS_NAME:-}"
[[ -z "$only" || "$only" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$ ]] || refuse "invalid_process_name" "process_name is malformed"

# Prints "pid<TAB>starttime<TAB>cpu_ticks<TAB>name" for every user process.
# Read from /proc, where ps gets it, and sampled twice by the caller: ps's
# own %CPU is an average over a process's whole life and hides a process
# that only recently ran away. Kernel threads (children of pid 2) and this
# script itself are left out.
snapshot() {
  local f line pid comm rest
  local -a fields
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    pid="${line%% *}"
    comm="${line#*(}"
    comm="${comm%)*}"
    rest="${line##*) }"
    read -r -a fields <<<"$rest"
    # fields[i] is /proc/<pid>/stat field i+3: ppid 4, utime 14, stime 15, starttime 22.
    [[ "$pid" == "$$" || "$pid" == 2 || "${fields[1]}" == 2 ]] && continue
    printf '%s\t%s\t%s\t%s\n' "$pid" "${fields[19]}" "$((fields[11] + fields[12]))" "${comm//[^A-Za-z0-9._:@\/-]/_}"
  done
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
# Samples every process (or only those named $2) for $1 milliseconds and prints
# "percent<TAB>pid<TAB>starttime<TAB>name" lines, busiest first.
sample_cpu() {
  local a b t0 t1 clk
  a=$(mktemp -p "$MSP_WORK_DIR")
  b=$(mktemp -p "$MSP_WORK_DIR")
  clk=$(getconf CLK_TCK)
  t0=$(date +%s%N)
  snapshot >"$a"
  sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
  t1=$(date +%s%N)
  snapshot >"$b"
  awk -F'\t' -v OFS='\t' -v clk="$clk" -v ms="$(((t1 - t0) / 1000000))" -v only="$2" '
    NR == FNR { before[$1 FS $2] = $3; next }
    (only == "" || $4 == only) && (($1 FS $2) in before) {
      printf "%d\t%s\t%s\t%s\n", ($3 - before[$1 FS $2]) * 100000 / (clk * ms), $1, $2, $4
    }' "$a" "$b" | sort -t $'\t' -k1,1nr -k2,2n
  rm -f -- "$a" "$b"
}

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
