#!/usr/bin/env bash
# RB-RESTORE-001 step 5 (check_databases): runs SQLite's own integrity check
# on every restored SQLite database (recognised by its file header), because
# a byte-exact copy of a database taken mid-write can still be unusable.
# Databases of other engines are out of scope here. Read-only.
#
# Reads:  MSP_WORK_DIR (restore_scratch_dir)
# Prints: databases_checked, databases_failed, database_check (ok | failed | none | unavailable)
# Exit:   0 all checked databases are intact (or none found / sqlite3 missing), 1 otherwise, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
work=$(realpath -e -- "$MSP_WORK_DIR")
scratch=$(head -n 1 -- "$work/restore_scratch_dir")
[[ "$scratch" == "$work"/restore-scratch.* && -d "$scratch" ]] || refuse "invalid_scratch_dir" "scratch $scratch is not in the work directory"

checked=0
failed=0
found=0
while IFS= read -r -d '' f; do
  [[ "$(head -c 15 -- "$f" | tr -d '\0')" == "SQLite format 3" ]] || continue
  found=$((found + 1))
  command -v sqlite3 >/dev/null || continue
  checked=$((checked + 1))
  # Paths are absolute (scratch is), so none can be taken for an sqlite3 option.
  result=$(sqlite3 -readonly -batch "$f" 'PRAGMA integrity_check;' 2>&1 | head -n 1) || true
  if [[ "$result" != ok ]]; then
    failed=$((failed + 1))
    echo "database ${f#"$scratch"/} failed its integrity check: $result" >&2
  fi
done < <(find "$scratch" -type f -size +0 -print0)

ev databases_checked "$checked"
ev databases_failed "$failed"
if ((found == 0)); then
  ev database_check none
elif ((checked == 0)); then
  ev database_check unavailable
  echo "sqlite3 is not installed; $found database(s) not checked" >&2
elif ((failed > 0)); then
  ev database_check failed
  exit 1
else
  ev database_check ok
fi
