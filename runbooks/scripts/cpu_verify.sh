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

# Optional: only processes of this name (the name the incident reported).
only="${MSP_PARAM_PROCESS_NAME:-}"
[[ -z "$only" || "$only" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$ ]] || refuse "invalid_process_name" "process_name is malformed"

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
