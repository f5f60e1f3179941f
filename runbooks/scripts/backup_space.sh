#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 step 2 (verify_backup_space): checks that the repository's
# filesystem can take a new backup: free space must cover the source's size
# (an upper bound for its gzip archive) plus a configured reserve. Read-only.
#
# Reads:  MSP_PARAM_SOURCE_DIR, MSP_ROOTS_BACKUP_SOURCES, MSP_PARAM_REPOSITORY_DIR,
#         MSP_ROOTS_BACKUP_TARGETS, MSP_PARAM_MIN_FREE_MB
# Prints: source_kb, repository_free_kb, required_kb, space_ok
# Exit:   0 enough space, 1 not enough, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

path_in_roots src MSP_PARAM_SOURCE_DIR MSP_ROOTS_BACKUP_SOURCES
path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
read_int min_free_mb MSP_PARAM_MIN_FREE_MB 100 0 1048576
[[ -d "$src" ]] || { echo "source directory $src does not exist" >&2; exit 1; }

source_kb=$(du -sk -- "$src" | cut -f1)
# The repository may not exist yet (backup_run.sh creates it); measure the
# filesystem of its nearest existing ancestor instead.
probe="$repo"
while [[ ! -d "$probe" ]]; do probe=$(dirname -- "$probe"); done
free_kb=$(df -Pk -- "$probe" | awk 'NR == 2 { print $4 }')
required_kb=$((source_kb + min_free_mb * 1024))

ev source_kb "$source_kb"
ev repository_free_kb "$free_kb"
ev required_kb "$required_kb"
if ((free_kb >= required_kb)); then
  ev space_ok yes
else
  ev space_ok no
  echo "repository filesystem has ${free_kb} KiB free; ${required_kb} KiB needed" >&2
  exit 1
fi
