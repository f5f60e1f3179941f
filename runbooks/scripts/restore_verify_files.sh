#!/usr/bin/env bash
# RB-RESTORE-001 step 4 (verify_checksums): compares the sha256 of every
# restored file with the backup's manifest and counts matches, mismatches,
# files missing from the restore and restored files the manifest does not
# list. Any difference fails the restore test.
#
# Reads:  MSP_WORK_DIR (restore_backup_dir, restore_scratch_dir)
# Prints: files_verified, mismatches, missing_files, extra_files, restore_status (verified | failed)
# Exit:   0 every file matches, 1 otherwise, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"
work=$(realpath -e -- "$MSP_WORK_DIR")
dir=$(head -n 1 -- "$work/restore_backup_dir")
scratch=$(head -n 1 -- "$work/restore_scratch_dir")
[[ "$scratch" == "$work"/restore-scratch.* && -d "$scratch" ]] || refuse "invalid_scratch_dir" "scratch $scratch is not in the work directory"
manifest="$dir/MANIFEST.sha256"
[[ -f "$manifest" ]] || { echo "manifest $manifest is missing" >&2; exit 1; }

# sha256sum -c opens the paths the manifest names; a tampered manifest could
# name ../../etc/shadow, so every entry must be a ./relative path without '..'.
if grep -Evq '^\\?[0-9a-f]{64}  \./' "$manifest" || grep -Eq '(^|/)\.\.(/|$)' "$manifest"; then
  refuse "unsafe_manifest" "manifest has entries outside ./"
fi

results=$(cd -- "$scratch" && sha256sum -c -- "$manifest" 2>/dev/null) || true
verified=$(grep -c ': OK$' <<<"$results" || true)
missing=$(grep -c ': FAILED open or read$' <<<"$results" || true)
mismatched=$(grep -c ': FAILED$' <<<"$results" || true)
listed=$(wc -l <"$manifest")
restored=$(find "$scratch" -type f -printf . | wc -c)
extra=$((restored - verified - mismatched))
((extra < 0)) && extra=0

ev files_verified "$verified"
ev mismatches "$mismatched"
ev missing_files "$missing"
ev extra_files "$extra"
if ((mismatched == 0 && missing == 0 && extra == 0 && verified == listed)); then
  ev restore_status verified
else
  ev restore_status failed
  grep -v ': OK$' <<<"$results" | head -n 20 >&2 || true
  echo "restore verification failed: $mismatched mismatched, $missing missing, $extra extra of $listed files" >&2
  exit 1
fi
