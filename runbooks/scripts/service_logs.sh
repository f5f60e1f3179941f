#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-SERVICE-001 step 2 (collect_logs): keeps the last lines the service
# logged before it crashed (journal for systemd, the program's stderr log,
# else stdout log, for supervisor), as evidence of why it went down. Read-only.
#
# Reads:  MSP_PARAM_SERVICE_NAME, MSP_PARAM_LOG_LINES, MSP_SERVICE_ALLOWLIST,
#         MSP_SERVICE_MANAGER, MSP_SUPERVISOR_CONF
# Prints: log_source (journal | supervisor_stderr | supervisor_stdout | none),
#         log_lines_collected, log_excerpt (lines joined with " | ", at most 1500 chars)
# Exit:   0 ok, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"
source "$MSP_LIB_DIR/service.sh"

# The service name is checked for shape (it can then never be read as an
# option) and against the allow-list before anything else happens.
name="${MSP_PARAM_SERVICE_NAME:-}"
allowed_service "$name" "service_name is missing or malformed"

read_int lines MSP_PARAM_LOG_LINES 20 1 200
text=""
source_name=none
if [[ "$manager" == systemd ]]; then
  text=$(journalctl -u "$name" -n "$lines" --no-pager -o short-iso 2>/dev/null) || text=""
  [[ -n "$text" ]] && source_name=journal
else
  for stream in stderr stdout; do
    text=$(supervisor tail -65536 "$name" "$stream" 2>/dev/null) || text=""
    text=$(tail -n "$lines" <<<"$text" | sed '/^[[:space:]]*$/d')
    if [[ -n "$text" ]]; then
      source_name="supervisor_$stream"
      break
    fi
  done
fi
count=0
[[ -n "$text" ]] && count=$(wc -l <<<"$text")
printf '%s\n' "$text" >&2
excerpt=$(tr '\n' '\037' <<<"$text" | sed 's/\x1f$//; s/\x1f/ | /g')
ev log_source "$source_name"
ev log_lines_collected "$count"
ev log_excerpt "${excerpt:0:1500}"
