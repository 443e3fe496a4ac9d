#!/usr/bin/env bash
# Small files and the scale curve (issue 13, targets 4 and 5), through the API of a release
# server: a million ~100-byte files (bench/gen_small.py) backed up and restored over the live
# tree, with the server's peak RSS for each, beside `tar -cf - | zstd -T0 -3` and
# `zstd -d | tar -x` on the same tree; then backup times at 10k, 100k and 1M files and for
# the 1 GiB and 4 GiB portals (bench/gen_portal.py), with the slope per file and per GiB; and
# the ignored engine test that writes, verifies and restores a million-entry archive.
# Usage: bench/scale.sh BIN [WORKDIR]   (SCALE_4G=0 skips the 4 GiB portal; PORTAL_1G=DIR
# uses an existing 1 GiB portal)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
WORK=${2:-/tmp/dsbackup-bench/scale}
mkdir -p "$WORK"
source bench/serve.sh
trap serve_stop EXIT
for n in 10000 100000 1000000; do
  [ -d "$WORK/small-$n" ] || python3 bench/gen_small.py "$WORK/small-$n" $n
done
P1=${PORTAL_1G:-$WORK/portal-1024} # bench/run.sh passes its own 1 GiB portal
[ -d "$P1" ] || python3 bench/gen_portal.py "$P1" 1024
if [ "${SCALE_4G:-1}" != 0 ] && [ ! -d "$WORK/portal-4096" ]; then
  python3 bench/gen_portal.py "$WORK/portal-4096" 4096
fi

M=$WORK/small-1000000
echo "== a million small files: $(du -sm "$M" | cut -f1) MiB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
find "$M" -type f -exec cat {} + > /dev/null # warm the cache
serve_start "$BIN" "$WORK/srv" "$M"
b=$(secs serve_backup); brss=$(serve_rss); serve_reset_rss
r=$(secs serve_restore "$(serve_last_id)"); rrss=$(serve_rss)
t0=$(date +%s.%N); serve_settle; removal=$(echo "$(date +%s.%N) - $t0" | bc -l)
asize=$(du -sb "$SOUT" | cut -f1)
serve_stop
t=$(secs bash -c "tar -C '$M' -cf - . | zstd -T0 -3 -q -f -o '$WORK/m.tar.zst'")
rm -rf "$WORK/x" && mkdir -p "$WORK/x" && sync
x=$(secs bash -c "zstd -d -q -c '$WORK/m.tar.zst' | tar -C '$WORK/x' -xf -")
rm -rf "$WORK/x"
printf '%-28s %8s %10s %12s\n' "1M files" seconds "peak MiB" "tool x"
printf '%-28s %8.2f %10s %12.2f\n' "dsbackup backup" "$b" "$brss" 1
printf '%-28s %8.2f %10s %12.2f\n' "tar|zstd -T0 -3" "$t" "" "$(echo "$t / $b" | bc -l)"
printf '%-28s %8.2f %10s %12.2f\n' "dsbackup restore" "$r" "$rrss" 1
printf '%-28s %8.2f %10s %12.2f\n' "zstd -d|tar -x" "$x" "" "$(echo "$x / $r" | bc -l)"
echo "archive: $((asize >> 20)) MiB; tar|zstd: $(( $(stat -c %s "$WORK/m.tar.zst") >> 20 )) MiB"
printf 'the replaced tree was removed in the background in %.1f s after the restore completed\n' "$removal"

echo "== scale curve (dsbackup backup through the API, one run each)"
declare -a FILES SIZES TIMES
for d in small-10000 small-100000 small-1000000 portal-1024 portal-4096; do
  dir=$WORK/$d
  [ "$d" = portal-1024 ] && dir=$P1
  [ -d "$dir" ] || continue
  find "$dir" -type f -exec cat {} + > /dev/null
  serve_start "$BIN" "$WORK/srv" "$dir"
  s=$(secs serve_backup); rss=$(serve_rss)
  serve_stop
  n=$(find "$dir" -type f | wc -l); bytes=$(du -sb "$dir" | cut -f1)
  printf '%-16s %9d files %7d MiB %8.2f s  peak %4d MiB\n' "$d" "$n" $((bytes >> 20)) "$s" "$rss"
  echo "$d $n $bytes $s" >> "$WORK/curve.txt.new"
done
mv "$WORK/curve.txt.new" "$WORK/curve.txt"
python3 - "$WORK/curve.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
def fit(pts):
    n = len(pts); mx = sum(x for x, _ in pts) / n; my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    k = sum((x - mx) * (y - my) for x, y in pts) / sxx
    return k, my - k * mx
small = [(int(r[1]), float(r[3])) for r in rows if r[0].startswith("small")]
big = [(int(r[2]) / 2**30, float(r[3])) for r in rows if r[0].startswith("portal")]
if len(small) > 1:
    k, c = fit(small)
    print(f"small files: least-squares slope {k * 1e6:.2f} s per million files, intercept {c:.2f} s; "
          + ", ".join(f"{n} files {t / n * 1e6:.1f} us/file" for n, t in small))
if len(big) > 1:
    k, c = fit(big)
    print(f"portals: {k:.2f} s per GiB (intercept {c:.2f} s); "
          + ", ".join(f"{g:.1f} GiB {t / g:.2f} s/GiB" for g, t in big))
PY

echo "== engine: a million-entry archive written, verified and restored (ignored test)"
cargo test --release -q -p dsbackup-engine --test scale --no-run 2>/dev/null # not timed
DSBACKUP_SCALE_DIR=$M /usr/bin/time -f "%e s, peak %M KB (the test process)" \
  cargo test --release -q -p dsbackup-engine --test scale -- --ignored 2>&1 | grep -E "test result|peak|panicked"
