#!/usr/bin/env bash
# API figures (issue 13, target 6): `getbackuphistory` with 100 records from one client with
# keep-alive (wrk -t1 -c1: median and p99), and authenticated GETs per second with keep-alive
# from 64 connections (wrk -t2 -c64; wrk shares the server's cores). The per-key rate limit is
# raised for the run so it measures the server, not the limiter.
# Usage: bench/api.sh BIN [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
WORK=${2:-/tmp/dsbackup-bench/api}
command -v wrk > /dev/null || apt-get install -y -qq wrk
mkdir -p "$WORK/src"
echo '{"hello": "world"}' > "$WORK/src/a.json"
source bench/serve.sh
trap serve_stop EXIT
serve_start "$BIN" "$WORK" "$WORK/src" "rate_limit_per_minute = 100000000"
for _ in $(seq 1 100); do serve_backup; done
n=$(curl -s -H "Authorization: $KEY" "$URL/api/2.0/backup/getbackuphistory" \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["response"]))')
echo "== getbackuphistory ($n records), one connection, 10 s"
wrk -t1 -c1 -d10s --latency -H "Authorization: $KEY" "$URL/api/2.0/backup/getbackuphistory" \
  | grep -E "^ +(50|99)%|Requests/sec"
for path in api/2.0/people/@self api/2.0/backup/getbackuphistory; do
  echo "== GET /$path, 64 connections, 2 threads, 10 s"
  wrk -t2 -c64 -d10s --latency -H "Authorization: $KEY" "$URL/$path" \
    | grep -E "^ +(50|99)%|Requests/sec|Non-2xx"
done
echo "server peak RSS: $(serve_rss) MiB"
