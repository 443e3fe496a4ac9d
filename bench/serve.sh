# Sourced by the bench scripts: start a release dsbackup server whose only portal has one
# directory source, and drive backups and restores through its API with the CLI.
# serve_start BIN WORKDIR SOURCE [extra config lines]  sets URL, SPID, KEY, SOUT (archives)
# serve_backup                                       one backup to $SOUT (its id: serve_last_id)
# serve_restore ID                                   restores it over the live source
# serve_rss                                          the server's peak RSS (VmHWM) in MiB
# serve_reset_rss                                    resets VmHWM (clear_refs)
# serve_settle                                       waits for the restores' background removals
# serve_stop
KEY=sk-bench000000000000000000000000000000000
serve_start() {
  local bin=$1 work=$2 src=$3 extra=${4:-}
  BIN=$bin
  SOUT=$work/archives
  rm -rf "$work/data" "$SOUT" && mkdir -p "$SOUT"
  cat > "$work/server.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/data"
local_roots = ["$SOUT"]
$extra
[[portals]]
alias = "default"
[[portals.sources]]
kind = "directory"
name = "files"
path = "$src"
TOML
  DSBACKUP_OWNER_API_KEY=$KEY DSBACKUP_LOG=${DSBACKUP_LOG:-warn} "$bin" serve --config "$work/server.toml" > "$work/server.out" 2>&1 &
  SPID=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$work/server.out" && break; sleep 0.1; done
  URL=$(grep -o 'http://[0-9.:]*' "$work/server.out" | head -1)
}
serve_backup() {
  DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" backup start --storage local --path "$SOUT" --json > "$SOUT/../last-backup.json"
  BACKUP_ID=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['taskId'])" "$SOUT/../last-backup.json")
}
serve_last_id() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['taskId'])" "$SOUT/../last-backup.json"
}
serve_restore() {
  DSBACKUP_URL=$URL DSBACKUP_KEY=$KEY "$BIN" restore "$1" --json > /dev/null
}
serve_rss() { echo $(( $(grep VmHWM /proc/$SPID/status | awk '{print $2}') / 1024 )); }
serve_reset_rss() { echo 5 > /proc/$SPID/clear_refs; }
# Waits (up to two minutes) until the replaced trees of earlier restores are removed: they go
# in the background after a restore completes, and would compete with the next measurement.
serve_settle() {
  for _ in $(seq 1 1200); do
    ls "$SOUT/../data"/restore-trash-*.json > /dev/null 2>&1 || return 0
    sleep 0.1
  done
}
serve_stop() {
  serve_settle
  kill $SPID 2>/dev/null || true
  wait $SPID 2>/dev/null || true
}
# secs CMD...: runs it, prints the wall time in seconds
secs() { local t0=$(date +%s.%N); "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; echo "$(date +%s.%N) - $t0" | bc -l; }
