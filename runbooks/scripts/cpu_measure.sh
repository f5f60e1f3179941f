#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-CPU-001 step 1 (measure_cpu): samples the CPU use of every process (or
# only those named process_name) over sample_ms, identifies the top
# consumer and records it in the work directory when it is over the
# threshold. 100 means one full core. Read-only.
#
# Reads:  MSP_PARAM_CPU_THRESHOLD_PERCENT, MSP_PARAM_SAMPLE_MS, MSP_PARAM_TOP_COUNT,
#         MSP_PARAM_PROCESS_NAME, MSP_WORK_DIR
# Writes: $MSP_WORK_DIR/cpu_top.tsv (all samples), $MSP_WORK_DIR/cpu_target (when over threshold)
# Prints: cpu_count, load_average_1m, processes_sampled, top_pid, top_process,
#         top_cpu_percent, over_threshold (yes | no), top_processes ("name(pid) pct%; ...")
# Exit:   0 ok, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/proc.sh"

# Optional: only processes of this name (the name the incident reported).
only="${MSP_PARAM_PROCESS_NAME:-}"
[[ -z "$only" || "$only" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$ ]] || refuse "invalid_process_name" "process_name is malformed"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
read_int threshold MSP_PARAM_CPU_THRESHOLD_PERCENT 90 1 6400
read_int sample_ms MSP_PARAM_SAMPLE_MS 3000 100 30000
read_int top_n MSP_PARAM_TOP_COUNT 5 1 20

sample_cpu "$sample_ms" "$only" >"$MSP_WORK_DIR/cpu_top.tsv"
rm -f -- "$MSP_WORK_DIR/cpu_target"
sampled=$(wc -l <"$MSP_WORK_DIR/cpu_top.tsv")
top_pct=0
top_pid=0
top_name=none
if ((sampled > 0)); then IFS=$'\t' read -r top_pct top_pid top_start top_name <"$MSP_WORK_DIR/cpu_top.tsv"; fi
summary=$(awk -F'\t' -v n="$top_n" 'NR <= n { printf "%s%s(%s) %s%%", (NR > 1 ? "; " : ""), $4, $2, $1 }' "$MSP_WORK_DIR/cpu_top.tsv")

ev cpu_count "$(nproc)"
ev load_average_1m "$(cut -d' ' -f1 /proc/loadavg)"
ev processes_sampled "$sampled"
ev top_pid "$top_pid"
ev top_process "$top_name"
ev top_cpu_percent "$top_pct"
if ((top_pct >= threshold)); then
  printf '%s\t%s\t%s\t%s\n' "$top_pid" "$top_start" "$top_name" "$top_pct" >"$MSP_WORK_DIR/cpu_target"
  ev over_threshold yes
else
  ev over_threshold no
fi
ev top_processes "${summary:0:1500}"
