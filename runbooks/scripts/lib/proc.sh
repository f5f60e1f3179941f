# shellcheck shell=bash
# Process helpers of RB-CPU-001, read from /proc. Sourced after common.sh;
# pinned and provided through MSP_LIB_DIR like every library file.
#
# Defines: proc_start, snapshot, sample_cpu (which needs MSP_WORK_DIR)

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
