#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-SERVICE-001 step 4 and post-execution validation (verify_running): waits
# up to verify_wait_seconds for the service to be running, then checks it is
# still running with the same pid a second later, so a service that crashes
# straight after starting is not reported as fixed. Read-only.
#
# Reads:  MSP_PARAM_SERVICE_NAME, MSP_PARAM_VERIFY_WAIT_SECONDS, MSP_SERVICE_ALLOWLIST,
#         MSP_SERVICE_MANAGER, MSP_SUPERVISOR_CONF, MSP_WORK_DIR
# Prints: service_state_after, service_pid_after, pid_changed (yes | no | unknown),
#         service_running (yes | no)
# Exit:   0 running, 1 not running, 64 misuse, 65 refused
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

# The service name is checked for shape (it can then never be read as an
# option) and against the allow-list before anything else happens.
name="${MSP_PARAM_SERVICE_NAME:-}"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$ ]] || refuse "invalid_service_name" "service_name is missing or malformed"
if ! in_list "$name" "${MSP_SERVICE_ALLOWLIST:-}"; then
  ev refused_name "$name"
  refuse "not_allowlisted" "service $name is not in MSP_SERVICE_ALLOWLIST"
fi

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
read_int wait_s MSP_PARAM_VERIFY_WAIT_SECONDS 15 1 120
ticks=$((wait_s * 2))
until svc_probe "$name" && svc_running; do
  ((ticks-- > 0)) || break
  sleep 0.5
done
running=no
pid=0
if svc_running; then
  pid=$svc_pid
  sleep 1
  if svc_probe "$name" && svc_running && [[ "$svc_pid" == "$pid" ]]; then running=yes; fi
fi
state="${svc_state:-unknown}"
before=""
[[ -f "$MSP_WORK_DIR/service_pid_before" ]] && before=$(head -n 1 -- "$MSP_WORK_DIR/service_pid_before")
ev service_state_after "$state"
ev service_pid_after "$pid"
if [[ ! "$before" =~ ^[0-9]+$ ]]; then
  ev pid_changed unknown
elif [[ "$before" != "$pid" ]]; then
  ev pid_changed yes
else
  ev pid_changed no
fi
ev service_running "$running"
[[ "$running" == yes ]] || { echo "$name is not running (state $state)" >&2; exit 1; }
