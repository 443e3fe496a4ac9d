#!/usr/bin/env python3
"""Scale-out benchmark (issue 12), printed as a table; not a test.

1. Scheduled backups of many small portals: PORTALS portals (default 200), each with a
   schedule due now to one moto bucket (CustomCloud), run by 1, 2 and 3 `dsbackup serve` nodes
   sharing a fresh PostgreSQL catalog; the time from the nodes' start until every portal has
   its record, and how the runs spread over the nodes.
2. API latency: `getbackuphistory` of a portal with 100 records, RUNS sequential requests over
   one keep-alive connection, on an SQLite catalog and on PostgreSQL; p50 and p99.

Usage: bench/nodes.py BINARY [PORTALS]   (needs psql, PostgreSQL on 127.0.0.1:5432 with trust
auth, and moto_server: target/test-servers-venv/bin/moto_server or $MOTO, or on PATH)
"""

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

BIN = os.path.abspath(sys.argv[1])
PORTALS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
RUNS = int(os.environ.get("RUNS", "1000"))
KEY = "sk-bench00000000000000000000000000000owner"
HEX1 = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"
HEX2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff1"


def psql(db, sql):
    return subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql],
        check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class Node:
    def __init__(self, work, name, catalog, extra):
        self.port = free_port()
        data = os.path.join(work, name)
        env = {
            "PATH": os.environ["PATH"], "DSBACKUP_LISTEN": f"127.0.0.1:{self.port}",
            "DSBACKUP_DATA_DIR": data, "DSBACKUP_CATALOG": catalog, "DSBACKUP_NODE_ID": name,
            "DSBACKUP_INSTANCE_KEY": HEX1, "DSBACKUP_SECRETS_KEY": HEX2,
            "DSBACKUP_PORTALS_DIR": os.path.join(work, "portals"), "DSBACKUP_MODE": "saas",
            "DSBACKUP_REGISTRATION": "open", "DSBACKUP_OWNER_EMAIL": "owner@bench.org",
            "DSBACKUP_OWNER_PASSWORD": "owner-password-1", "DSBACKUP_OWNER_API_KEY": KEY,
            "DSBACKUP_RATE_LIMIT_PER_MINUTE": "1000000", "DSBACKUP_LOG": "info",
        }
        env.update(extra)
        self.log = open(os.path.join(work, f"{name}.log"), "w")
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        wait_port(self.port)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port)

    def call(self, method, path, body=None, cred=KEY):
        headers = {"Authorization": cred} if cred else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        data = res.read()
        return res.status, (json.loads(data) if data else None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def fresh_db():
    name = "dsbbench_" + uuid.uuid4().hex[:10]
    psql("postgres", f"CREATE DATABASE {name}")
    return name, f"postgres://postgres@127.0.0.1:5432/{name}"


def start_moto():
    moto = os.environ.get("MOTO") or "target/test-servers-venv/bin/moto_server"
    if not os.path.exists(moto):
        moto = shutil.which("moto_server")
    port = free_port()
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("PUT", "/bkt")
    c.getresponse().read()
    return proc, f"http://127.0.0.1:{port}"


def scheduled(nodes_n, moto_url):
    db, url = fresh_db()
    work = tempfile.mkdtemp(prefix="dsb-nodes-")
    try:
        # Set-up on one node whose scheduler sleeps (its one pass at start finds nothing due).
        setup = Node(work, "setup", url, {"DSBACKUP_SCHEDULER_PERIOD_SECS": "3600"})
        hour = datetime.now(timezone.utc).hour
        params = [{"key": k, "value": v} for k, v in [
            ("bucket", "bkt"), ("serviceurl", moto_url), ("acesskey", "AK"),
            ("secretaccesskey", "not-checked")]]
        for i in range(PORTALS):
            alias = f"b{nodes_n}p{i:03d}"
            email = f"o@{alias}.org"
            st, _ = setup.call("POST", "/apisystem/portal/register", {
                "portalName": alias, "firstName": "B", "lastName": "O", "email": email,
                "password": "portal-password"}, cred=None)
            assert st == 200, st
            st, v = setup.call("POST", "/api/2.0/authentication",
                               {"userName": email, "password": "portal-password"}, cred=None)
            token = v["response"]["token"]
            st, v = setup.call("POST", "/api/2.0/backup/createbackupschedule", {
                "storageType": 2, "storageParams": params, "backupsStored": 3,
                "cronParams": {"period": 0, "hour": hour}}, cred=token)
            assert st == 200, v
        setup.stop()
        t0 = time.time()
        nodes = [Node(work, f"node-{i}", url, {"DSBACKUP_SCHEDULER_PERIOD_SECS": "1"})
                 for i in range(nodes_n)]
        while True:
            done = int(psql(db, "SELECT COUNT(*) FROM backups WHERE is_scheduled"))
            if done >= PORTALS:
                break
            if time.time() - t0 > 900:
                raise SystemExit(f"only {done} of {PORTALS} after 900 s")
            time.sleep(0.2)
        took = time.time() - t0
        spread = psql(db, "SELECT string_agg(n::text, '/' ORDER BY node) FROM "
                          "(SELECT node, COUNT(*) n FROM jobs WHERE scheduled GROUP BY node) x")
        twice = psql(db, "SELECT COUNT(*) FROM (SELECT tenant_id FROM backups "
                         "GROUP BY tenant_id HAVING COUNT(*) > 1) x")
        for n in nodes:
            n.stop()
        return took, spread, twice
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


def latency(catalog_kind):
    work = tempfile.mkdtemp(prefix="dsb-lat-")
    db = None
    if catalog_kind == "postgres":
        db, url = fresh_db()
    else:
        url = "sqlite:" + os.path.join(work, "catalog.db")
    try:
        n = Node(work, "node", url, {"DSBACKUP_LOG": "warn"})
        for _ in range(100):
            st, v = n.call("POST", "/api/2.0/backup/startbackup", {"storageType": 4})
            assert st == 200, v
            while True:
                st, v = n.call("GET", "/api/2.0/backup/getbackupprogress")
                if v and v.get("response", {}).get("isCompleted"):
                    break
                time.sleep(0.01)
        st, v = n.call("GET", "/api/2.0/backup/getbackuphistory")
        assert len(v["response"]) == 100, len(v["response"])
        times = []
        for _ in range(RUNS):
            t = time.perf_counter()
            n.call("GET", "/api/2.0/backup/getbackuphistory")
            times.append((time.perf_counter() - t) * 1000)
        n.stop()
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.99) - 1]
    finally:
        if db:
            psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


def main():
    print(f"dsbackup scale-out benchmark, {os.cpu_count()} cores, {PORTALS} portals, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    moto, moto_url = start_moto()
    try:
        base = None
        print("\nscheduled backups of small portals (each due now, CustomCloud to moto, "
              "PostgreSQL catalog)")
        print(f"{'nodes':>5} {'seconds':>8} {'runs/s':>7} {'speed-up':>8}  runs per node   "
              "portals run twice")
        for n in (1, 2, 3):
            took, spread, twice = scheduled(n, moto_url)
            base = base or took
            print(f"{n:>5} {took:>8.1f} {PORTALS / took:>7.1f} {base / took:>7.2f}x  "
                  f"{spread:<15} {twice}")
    finally:
        moto.terminate()
    print(f"\ngetbackuphistory with 100 records, {RUNS} sequential requests, one keep-alive "
          "connection (Python client)")
    for kind in ("sqlite", "postgres"):
        p50, p99 = latency(kind)
        print(f"{kind:>9}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
