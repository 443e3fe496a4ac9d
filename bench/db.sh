#!/usr/bin/env bash
# Database benchmark (run by bench/run.sh when BENCH_PG is set, or alone): a PostgreSQL
# database of SCALE x ~15 MiB (pgbench -i -s SCALE) on 127.0.0.1:5432 (user postgres, trust),
# backed up by dsbackup through its API (a portal whose only source is that database) against
# `pg_dump -Fc --compress=0 | zstd -T0 -3 > file`, the same work without an archive around it.
# Best of RUNS (default 3) each. Prints both times, sizes and the ratio.
# Usage: bench/db.sh BIN [SCALE] [WORKDIR]   (defaults: 20, /tmp/dsbackup-bench-db)
set -euo pipefail
BIN=$1
SCALE=${2:-20}
OUT=${3:-/tmp/dsbackup-bench-db}
RUNS=${RUNS:-3}
DB=dsbackup_bench_s$SCALE
PSQL=(psql -X -q -A -t -w -h 127.0.0.1 -p 5432 -U postgres)
rm -rf "$OUT" && mkdir -p "$OUT/dsbackup"

if [ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
  pgbench -q -i -s "$SCALE" -h 127.0.0.1 -p 5432 -U postgres "$DB" > /dev/null 2>&1
fi
DB_BYTES=$("${PSQL[@]}" -d "$DB" -c "SELECT pg_database_size('$DB')")
echo "database: $DB, $((DB_BYTES >> 20)) MiB on disk (pgbench scale $SCALE), $(nproc) cores"

cat > "$OUT/dsbackup.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$OUT/data"
local_roots = ["$OUT/dsbackup"]
[[portals]]
alias = "default"
[[portals.sources]]
kind = "postgres"
name = "pg"
url = "postgres://postgres@127.0.0.1:5432/$DB"
TOML
KEY=sk-bench000000000000000000000000000000000
DSBACKUP_OWNER_API_KEY=$KEY DSBACKUP_LOG=warn "$BIN" serve --config "$OUT/dsbackup.toml" > "$OUT/server.out" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$OUT/server.out" && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$OUT/server.out" | head -1)

best() { # command... : prints the best wall time of $RUNS runs
  local b=""
  for _ in $(seq 1 "$RUNS"); do
    rm -f "$OUT"/dsbackup/* "$OUT/pg.dump.zst"
    sync
    local t0=$(date +%s.%N)
    "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    local t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
dsbackup_run() {
  DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" backup start --storage local --path "$OUT/dsbackup" --json
}
pg_dump_run() {
  bash -c "pg_dump -h 127.0.0.1 -U postgres -Fc --compress=0 '$DB' | zstd -T0 -3 -q -o '$OUT/pg.dump.zst'"
}
D=$(best dsbackup_run)
D_SIZE=$(du -sb "$OUT/dsbackup" | cut -f1)
P=$(best pg_dump_run)
P_SIZE=$(stat -c %s "$OUT/pg.dump.zst")
kill $PID; trap - EXIT
printf '\n%-28s %8s %10s\n' tool seconds "out MiB"
printf '%-28s %8.2f %10.1f\n' "dsbackup (API, Local)" "$D" "$(echo "$D_SIZE / 1048576" | bc -l)"
printf '%-28s %8.2f %10.1f\n' "pg_dump -Fc -Z0 | zstd -3" "$P" "$(echo "$P_SIZE / 1048576" | bc -l)"
printf 'dsbackup / pg_dump|zstd: %.3f\n' "$(echo "$D / $P" | bc -l)"
