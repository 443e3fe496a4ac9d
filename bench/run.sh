#!/usr/bin/env bash
# Backup benchmark: the same reproducible ~1 GiB portal through dsbackup (start -> completed,
# through the API), tar|zstd -T0 -3, tar -czf (the upstream format), restic and borg (first
# backups into empty repositories); dsbackup also to a local S3-protocol server (moto_server,
# CustomCloud) and back. Each tool's best of RUNS (default 3) runs, warm page cache.
# Prints wall time, throughput, output size and ratios, and dsbackup's peak RSS; second
# backups (unchanged, 1 % changed) against restic's; then bench/scale.sh (a million small
# files, the scale curve) and bench/api.sh (history latency, GETs per second).
# Usage: bench/run.sh [SIZE_MIB] [WORKDIR]   (defaults: 1024, /tmp/dsbackup-bench)
# BENCH_PG=1 adds the database part first (bench/db.sh: a pgbench database of BENCH_PG_SCALE,
# default 20, against pg_dump | zstd); BENCH_PG=only runs just that part.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1024}
WORK=${2:-/tmp/dsbackup-bench}
DATA=$WORK/portal
OUT=$WORK/out
for tool in restic borg zstd /usr/bin/time; do
  command -v $tool >/dev/null || { apt-get update -qq && apt-get install -y -qq restic borgbackup zstd time; break; }
done
cargo build --release -p dsbackup --locked -q
BIN=$PWD/target/release/dsbackup
if [ -n "${BENCH_PG:-}" ] && [ "${BENCH_PG}" != 0 ]; then
  bench/db.sh "$BIN" "${BENCH_PG_SCALE:-20}" "$WORK/db"
  [ "$BENCH_PG" = only ] && exit 0
fi

[ -d "$DATA" ] || python3 bench/gen_portal.py "$DATA" "$SIZE"
rm -rf "$OUT" && mkdir -p "$OUT"
SRC_BYTES=$(du -sb "$DATA" | cut -f1)
FILES=$(find "$DATA" -type f | wc -l)
echo "portal: $DATA, $((SRC_BYTES >> 20)) MiB in $FILES files, $(nproc) cores"
# This VM's memory is backed by the host lazily: the first write to each guest page costs a
# host fault (~7 us per 4 KiB page here), so a tool whose page cache lands on untouched
# memory ran 2-3x slower than the same tool a minute later (a full backup: 5.3 s, then 2.3 s
# once the memory had been touched). Touch what is free once, first (BENCH_TOUCH=0 skips it).
if [ "${BENCH_TOUCH:-1}" != 0 ]; then
  python3 - <<'PY'
import mmap
avail = int([l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemAvailable")][0]) << 10
n = max(avail - (2 << 30), 0) & ~4095
if n:
    m = mmap.mmap(-1, n)
    for i in range(0, n, 4096):
        m[i] = 1
PY
fi
# Warm the page cache the same way for every tool.
cat $(find "$DATA" -type f) > /dev/null

RUNS=${RUNS:-3}
declare -A SECS SIZE_OF CPU
# CPU seconds (user + system) beside wall time, each of the best run: what a tool computed,
# apart from waiting on the disk (host faults on fresh guest memory still count as system
# time, see above). dsbackup's is the server's (through the API; the CLI only polls), the
# others' that of the command and its children.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' /proc/$1/stat; }
LAST_CPU=0
run_cpu() { # name, command... : runs it, sets LAST_CPU; fails when the command fails
  local name=$1; shift
  if [[ $name == dsbackup* ]]; then
    local c0=$(cpu_of $PID)
    "$@" > /dev/null 2>&1 || return 1
    LAST_CPU=$(echo "$(cpu_of $PID) - $c0" | bc -l)
  else
    /usr/bin/time -f '%U %S' -o "$OUT/cpu.txt" "$@" > /dev/null 2>&1 || return 1
    LAST_CPU=$(awk '{print $1 + $2}' "$OUT/cpu.txt")
  fi
}
timeit() { # name, output path, command... : best of $RUNS, each from an empty output
  local name=$1 out=$2; shift 2
  local best=""
  for _ in $(seq 1 "$RUNS"); do
    reset_out "$name" "$out"
    sync
    local t0=$(date +%s.%N)
    run_cpu "$name" "$@" || { echo "$name failed"; exit 1; }
    local t1=$(date +%s.%N)
    local t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; CPU[$name]=$LAST_CPU; fi
  done
  SECS[$name]=$best
  SIZE_OF[$name]=$(du -sb "$out" | cut -f1)
}
reset_out() { # a first backup every run: empty target, fresh repositories
  case $1 in
    dsbackup) rm -f "$2"/* ;;
    restic) rm -rf "$2"; RESTIC_PASSWORD=bench restic init -q -r "$2" > /dev/null ;;
    borg) rm -rf "$2"; borg init -e none "$2" > /dev/null 2>&1 ;;
    *) rm -f "$2" ;;
  esac
}

# dsbackup through its API: a release server with the portal as a directory source.
mkdir -p "$OUT/dsbackup"
cat > "$OUT/dsbackup.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$OUT/dsbackup-data"
local_roots = ["$OUT/dsbackup"]
[[portals]]
alias = "default"
[[portals.sources]]
kind = "directory"
name = "files"
path = "$DATA"
TOML
KEY=sk-bench000000000000000000000000000000000
DSBACKUP_OWNER_API_KEY=$KEY DSBACKUP_LOG=warn "$BIN" serve --config "$OUT/dsbackup.toml" > "$OUT/server.out" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$OUT/server.out" && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$OUT/server.out" | head -1)
dsbackup_run() {
  DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" backup start --storage local --path "$OUT/dsbackup" --json > "$OUT/last-backup.json"
}
timeit dsbackup "$OUT/dsbackup" dsbackup_run
RSS_KB=$(grep VmHWM /proc/$PID/status | awk '{print $2}')

# Restores: dsbackup restores the archive over the live portal (verify, stage, swap, clean up)
# through its API; the others extract into an empty directory.
declare -A RSECS RCPU
rtime() { # name, setup command, command... : best of $RUNS
  local name=$1 setup=$2; shift 2
  local best=""
  for _ in $(seq 1 "$RUNS"); do
    eval "$setup"
    sync
    local t0=$(date +%s.%N)
    run_cpu "$name" "$@" || { echo "$name restore failed"; exit 1; }
    local t1=$(date +%s.%N)
    local t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; RCPU[$name]=$LAST_CPU; fi
  done
  RSECS[$name]=$best
}
BACKUP_ID=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['taskId'])" "$OUT/last-backup.json")
settle() { # the replaced tree of a restore goes in the background once it completed
  for _ in $(seq 1 1200); do
    ls "$OUT"/dsbackup-data/restore-trash-*.json > /dev/null 2>&1 || return 0
    sleep 0.1
  done
}
# Second backups (target 2): unchanged, then with 1 % of the files changed (one byte appended,
# removed again afterwards), for dsbackup and restic (whose repository holds a first backup).
# dsbackup's parent is the last full backup above (its archive kept); they run before the
# restore, which rewrites every file (new inodes: the backup after a restore is a full one).
CHANGED=$(find "$DATA" -type f | sort | awk 'NR % 100 == 0')
change1() { for f in $CHANGED; do printf x >> "$f"; done; }
unchange1() { for f in $CHANGED; do truncate -s -1 "$f"; done; }
declare -A SECOND SECOND_CPU
best_sec() { # name, runs, command... : the best of that many runs, each after a sync
  local name=$1 runs=$2; shift 2
  local best="" t t0
  for _ in $(seq 1 "$runs"); do
    sync
    t0=$(date +%s.%N)
    run_cpu "$name" "$@" || { echo "$name failed"; exit 1; }
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then
      best=$t; SECOND_CPU[$name]=$LAST_CPU
    fi
  done
  SECOND[$name]=$best
}
best_sec dsbackup-unchanged "$RUNS" dsbackup_run
change1
best_sec dsbackup-1% 1 dsbackup_run
unchange1

rtime dsbackup settle env DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" restore "$BACKUP_ID" --json
RSS_KB=$(grep VmHWM /proc/$PID/status | awk '{print $2}')

settle


# The same server, backing up to and restoring from S3: CustomCloud to a local moto_server
# ($MOTO, else the one ./scripts/test installs), sharing the machine's cores with the server.
# The peak RSS is measured apart (clear_refs 5 resets VmHWM).
MOTO=${MOTO:-$PWD/target/test-servers-venv/bin/moto_server}
S3_RSS_KB=""
if [ -x "$MOTO" ]; then
  MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$MOTO" -H 127.0.0.1 -p "$MPORT" > "$OUT/moto.out" 2>&1 &
  MPID=$!
  trap 'kill $PID $MPID 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/" && break; sleep 0.1; done
  curl -sf -X PUT "http://127.0.0.1:$MPORT/bkt" > /dev/null
  echo 5 > /proc/$PID/clear_refs
  s3_run() {
    DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" backup start --storage CustomCloud --json \
      --param bucket=bkt --param "serviceurl=http://127.0.0.1:$MPORT" \
      --param acesskey=bench --param secretaccesskey=bench > "$OUT/last-s3.json"
  }
  s3_best=""
  for _ in $(seq 1 "$RUNS"); do # each run's object is deleted before the next (moto keeps RAM)
    [ -f "$OUT/last-s3.json" ] && curl -s -X DELETE -H "Authorization: $KEY" \
      "$URL/api/2.0/backup/deletebackup/$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['taskId'])" "$OUT/last-s3.json")" > /dev/null
    t0=$(date +%s.%N)
    run_cpu dsbackup-s3 s3_run || { echo "S3 backup failed"; exit 1; }
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    if [ -z "$s3_best" ] || [ "$(echo "$t < $s3_best" | bc -l)" = 1 ]; then
      s3_best=$t; CPU[dsbackup-s3]=$LAST_CPU
    fi
  done
  SECS[dsbackup-s3]=$s3_best
  SIZE_OF[dsbackup-s3]=$(curl -s "http://127.0.0.1:$MPORT/bkt?list-type=2" | grep -o '<Size>[0-9]*' | head -1 | tr -dc 0-9)
  S3_ID=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['taskId'])" "$OUT/last-s3.json")
  rtime dsbackup-s3 ":" env DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" restore "$S3_ID" --json
  S3_RSS_KB=$(grep VmHWM /proc/$PID/status | awk '{print $2}')
  kill $MPID
else
  echo "no moto_server at $MOTO (run ./scripts/test once, or set MOTO): S3 skipped"
fi
settle
kill $PID; trap - EXIT

timeit "tar|zstd-T0-3" "$OUT/a.tar.zst" bash -c "tar -C '$DATA' -cf - . | zstd -T0 -3 -q -o '$OUT/a.tar.zst'"
timeit "tar|zstd+fsync" "$OUT/b.tar.zst" bash -c "tar -C '$DATA' -cf - . | zstd -T0 -3 -q -o '$OUT/b.tar.zst' && sync '$OUT/b.tar.zst'"
timeit "tar-czf" "$OUT/a.tar.gz" tar -C "$DATA" -czf "$OUT/a.tar.gz" .
export RESTIC_PASSWORD=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
timeit "restic" "$OUT/restic" restic -q -r "$OUT/restic" backup "$DATA"
timeit "borg" "$OUT/borg" borg create -C zstd,3 "$OUT/borg::one" "$DATA"

# Extractions go into a new directory each (the link $OUT/x points at it), removed only at the
# end: this machine's ext4 has no journal, and there the inode allocator skips inodes deleted
# in the last 5 s (305 s while their inode table block is dirty) one by one, so creating files
# right after a large delete (rm -rf of the previous run) took 6-18 s instead of 2 s.
fresh_x() { local d="$OUT/xs/$(date +%s%N)"; mkdir -p "$d" && ln -sfn "$d" "$OUT/x"; }
rtime "zstd-d|tar-x" "fresh_x" bash -c "zstd -d -q -c '$OUT/a.tar.zst' | tar -C '$OUT/x' -xf -"
# dsbackup's restore is durable before it reports completion (files synced, then the swap);
# tar's is not until the page cache is written back: the same with a sync at the end.
rtime "zstd|tar-x+sync" "fresh_x && sync" bash -c "zstd -d -q -c '$OUT/a.tar.zst' | tar -C '$OUT/x' -xf - && sync"
timeit "restic" "$OUT/restic" restic -q -r "$OUT/restic" backup "$DATA"
best_sec restic-unchanged "$RUNS" restic -q -r "$OUT/restic" backup "$DATA"
change1
best_sec restic-1% 1 restic -q -r "$OUT/restic" backup "$DATA"
unchange1
rtime restic "fresh_x" restic -q -r "$OUT/restic" restore latest --target "$OUT/x/"
timeit "borg" "$OUT/borg" borg create -C zstd,3 "$OUT/borg::one" "$DATA"
rtime borg "fresh_x" bash -c "cd '$OUT/x' && borg extract '$OUT/borg::one'"
rm -rf "$OUT/x" "$OUT/xs"

D=${SECS[dsbackup]}
DC=${CPU[dsbackup]}
printf '\n%-16s %8s %10s %10s %8s %12s %8s %10s\n' tool seconds "MiB/s" "out MiB" ratio "dsbackup x" "CPU s" "CPU x"
for name in dsbackup dsbackup-s3 "tar|zstd-T0-3" "tar|zstd+fsync" tar-czf restic borg; do
  [ -n "${SECS[$name]:-}" ] || continue
  s=${SECS[$name]}; o=${SIZE_OF[$name]}; c=${CPU[$name]:-0}
  printf '%-16s %8.2f %10.1f %10.1f %8.2f %12.2f %8.2f %10.2f\n' "$name" "$s" \
    "$(echo "$SRC_BYTES / 1048576 / $s" | bc -l)" "$(echo "$o / 1048576" | bc -l)" \
    "$(echo "$SRC_BYTES / $o" | bc -l)" "$(echo "$s / $D" | bc -l)" "$c" "$(echo "$c / $DC" | bc -l)"
done
R=${RSECS[dsbackup]}; RC=${RCPU[dsbackup]}
printf '\n%-16s %8s %10s %12s %8s %10s\n' restore seconds "MiB/s" "dsbackup x" "CPU s" "CPU x"
for name in dsbackup dsbackup-s3 "zstd-d|tar-x" "zstd|tar-x+sync" restic borg; do
  [ -n "${RSECS[$name]:-}" ] || continue
  s=${RSECS[$name]}; c=${RCPU[$name]}
  printf '%-16s %8.2f %10.1f %12.2f %8.2f %10.2f\n' "$name" "$s" "$(echo "$SRC_BYTES / 1048576 / $s" | bc -l)" \
    "$(echo "$s / $R" | bc -l)" "$c" "$(echo "$c / $RC" | bc -l)"
done
printf '\n%-22s %8s %14s %8s %14s\n' "second backup" seconds "first / this" "CPU s" "first / this"
for name in dsbackup-unchanged dsbackup-1% restic-unchanged restic-1%; do
  first=${SECS[${name%%-*}]}; fc=${CPU[${name%%-*}]}
  printf '%-22s %8.2f %14.2f %8.2f %14.2f\n' "$name" "${SECOND[$name]}" "$(echo "$first / ${SECOND[$name]}" | bc -l)" \
    "${SECOND_CPU[$name]}" "$(echo "$fc / ${SECOND_CPU[$name]}" | bc -l)"
done
echo "dsbackup server peak RSS (backups and restores): $((RSS_KB / 1024)) MiB"
[ -z "$S3_RSS_KB" ] || echo "dsbackup server peak RSS (S3 backups and restore only): $((S3_RSS_KB / 1024)) MiB"
echo "(ratio = source bytes / output bytes; 'dsbackup x' = that tool's time / dsbackup's time)"

# Small files, the scale curve and the API (targets 4, 5 and 6); BENCH_SCALE=0 / BENCH_API=0
# skip them.
[ "${BENCH_SCALE:-1}" = 0 ] || PORTAL_1G=$DATA bench/scale.sh "$BIN" "$WORK/scale"
[ "${BENCH_API:-1}" = 0 ] || bench/api.sh "$BIN" "$WORK/api"
