#!/usr/bin/env bash
# shellcheck disable=SC2154 # read_int and path_in_roots assign through printf -v
# RB-BACKUP-001 step 3 (run_backup): makes a new backup of the source
# directory: a tar.gz archive, a sha256 manifest of every regular file in the
# source and the sha256 of the archive, written to a staging directory that is
# renamed into place only when complete, so a crash never leaves a backup that
# looks finished. Appends one line to the repository's backup.log.
#
# Reads:  MSP_PARAM_SOURCE_DIR, MSP_ROOTS_BACKUP_SOURCES, MSP_PARAM_REPOSITORY_DIR,
#         MSP_ROOTS_BACKUP_TARGETS, MSP_WORK_DIR, MSP_DRY_RUN
# Writes: $MSP_WORK_DIR/backup_id and backup_staging (for verify and rollback)
# Prints: backup_id, backup_path, files_backed_up, archive_bytes, archive_sha256,
#         manifest_sha256, backup_status (success | dry_run)
# Exit:   0 ok, 1 failed, 64 misuse, 65 refused
set -euo pipefail
export LC_ALL=C
# The executor provides MSP_LIB_DIR: a private copy of the pinned scripts/lib/ files.
[[ -d "${MSP_LIB_DIR:-}" ]] || { echo "MSP_LIB_DIR must name the runbook script library" >&2; exit 64; }
source "$MSP_LIB_DIR/common.sh"

: "${MSP_WORK_DIR:?MSP_WORK_DIR is required}"

path_in_roots src MSP_PARAM_SOURCE_DIR MSP_ROOTS_BACKUP_SOURCES
path_in_roots repo MSP_PARAM_REPOSITORY_DIR MSP_ROOTS_BACKUP_TARGETS
[[ -d "$src" ]] || { echo "source directory $src does not exist" >&2; exit 1; }
# A repository inside the source would back itself up, growing every run.
if [[ "$repo" == "$src" || "$repo" == "$src"/* ]]; then
  refuse "repository_inside_source" "repository $repo lies inside source $src"
fi

# Nanosecond timestamps keep ids unique and make name order equal time order.
id="backup-$(date -u +%Y%m%dT%H%M%S.%NZ)"
files=$(find "$src" -type f -printf . | wc -c)

if [[ "${MSP_DRY_RUN:-0}" == 1 ]]; then
  echo "dry run: would archive $files files of $src into $repo/$id" >&2
  ev dry_run 1
  ev backup_id "$id"
  ev backup_path "$repo/$id"
  ev files_backed_up "$files"
  ev archive_bytes 0
  ev archive_sha256 none
  ev manifest_sha256 none
  ev backup_status dry_run
  exit 0
fi

mkdir -p -- "$repo"
staging="$repo/.incomplete-$id"
mkdir -- "$staging"
printf '%s\n' "$staging" >"$MSP_WORK_DIR/backup_staging"

# --numeric-owner keeps uids stable across hosts whose user names differ.
tar -C "$src" --numeric-owner -czf "$staging/data.tar.gz" .
# The manifest lists files as ./relative/path in a stable order; sha256sum
# escapes awkward names itself, so the file stays parseable by `sha256sum -c`.
(cd -- "$src" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum --) >"$staging/MANIFEST.sha256"
(cd -- "$staging" && sha256sum -- data.tar.gz) >"$staging/ARCHIVE.sha256"
sync -f -- "$staging/data.tar.gz" 2>/dev/null || true
mv -- "$staging" "$repo/$id"
printf '%s\n' "$id" >"$MSP_WORK_DIR/backup_id"

archive_sha=$(cut -d' ' -f1 "$repo/$id/ARCHIVE.sha256")
manifest_sha=$(sha256sum -- "$repo/$id/MANIFEST.sha256" | cut -d' ' -f1)
entries=$(wc -l <"$repo/$id/MANIFEST.sha256")
bytes=$(stat -c %s -- "$repo/$id/data.tar.gz")
printf '%s %s files=%s archive_sha256=%s\n' "$(date -u +%FT%TZ)" "$id" "$entries" "$archive_sha" >>"$repo/backup.log"

ev backup_id "$id"
ev backup_path "$repo/$id"
ev files_backed_up "$entries"
ev archive_bytes "$bytes"
ev archive_sha256 "$archive_sha"
ev manifest_sha256 "$manifest_sha"
ev backup_status success
