# shellcheck shell=bash
# RB-DISK-001's shared pieces: the target and its measurement (check_usage and
# verify_usage read and measure the same way) and the cleanup directories
# (clean_temp and rotate_logs choose them the same way). Sourced after
# common.sh; pinned and provided through MSP_LIB_DIR like every library file.
#
# Defines: read_target (sets target, quota_mb, threshold)
#          measure (reads target and quota_mb; sets usage_mode, used_kb, limit_kb, usage_percent)
#          cleanup_dirs PARAM_VAR ROOTS_VAR (sets the array dirs)

# Reads the target directory (inside the disk_targets roots), the quota and
# the threshold; a target that does not exist fails the step (exit 1).
read_target() {
  path_in_roots target MSP_PARAM_TARGET_DIR MSP_ROOTS_DISK_TARGETS
  read_int quota_mb MSP_PARAM_QUOTA_MB 0 0 16777216
  read_int threshold MSP_PARAM_THRESHOLD_PERCENT 90 1 99
  [[ -d "$target" ]] || { echo "target directory $target does not exist" >&2; exit 1; }
}

# Sets dirs to the directory the parameter names (refused unless inside the
# roots) or, without it, to every configured root: absolute, resolved, never /.
cleanup_dirs() {
  local param=$1 roots_var=$2 one r roots
  dirs=()
  if [[ -n "${!param:-}" ]]; then
    path_in_roots one "$param" "$roots_var"
    dirs+=("$one")
  else
    IFS=: read -r -a roots <<<"${!roots_var:-}"
    for r in "${roots[@]}"; do
      [[ "$r" == /* ]] || continue
      r=$(realpath -m -- "$r")
      # An if, not `&&`: a false test as the function's last command would be its status, fatal under set -e.
      if [[ "$r" != / ]]; then dirs+=("$r"); fi
    done
  fi
}

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
