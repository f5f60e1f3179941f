# shellcheck shell=bash
# Usage measurement of RB-DISK-001, shared by check_usage and verify_usage so
# both measure the same way. Sourced after common.sh; pinned and provided
# through MSP_LIB_DIR like every library file.
#
# Defines: measure (reads target and quota_mb; sets usage_mode, used_kb, limit_kb, usage_percent)

# Sets usage_mode, used_kb, limit_kb and usage_percent for $target: against
# quota_mb with du when a quota is configured (a directory's share of a
# disk), else against its whole filesystem with df (what fills up and stops
# services).
measure() {
  local out fs_used fs_avail
  if ((quota_mb > 0)); then
    usage_mode=quota
    # An unreadable subdirectory makes du exit 1 but still print a total; that total is used.
    out=$(du -skx -- "$target" 2>/dev/null) || true
    used_kb="${out%%[[:space:]]*}"
    limit_kb=$((quota_mb * 1024))
  else
    usage_mode=filesystem
    read -r fs_used fs_avail < <(df -Pk -- "$target" | awk 'NR == 2 { print $3, $4 }')
    used_kb="$fs_used"
    limit_kb=$((fs_used + fs_avail))
  fi
  if [[ ! "$used_kb" =~ ^[0-9]+$ ]] || ((limit_kb == 0)); then
    echo "cannot measure usage of $target" >&2
    exit 1
  fi
  # Rounded up like df's Use%, so 90.1% never reads as under a 90% threshold.
  usage_percent=$(((used_kb * 100 + limit_kb - 1) / limit_kb))
}
