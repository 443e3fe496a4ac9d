#!/usr/bin/env python3
"""Builds a reproducible benchmark portal of about SIZE_MIB (default 1024) MiB in DIR:
~40 % text/JSON (compressible), ~40 % incompressible binaries, ~20 % in tens of thousands of
small files. The same seed gives the same bytes."""
import json
import os
import random
import sys

def main():
    out = sys.argv[1]
    size_mib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    rnd = random.Random(20261127)
    total = size_mib << 20
    os.makedirs(out, exist_ok=True)

    # Compressible: JSON lines of plausible records, 16 MiB per file.
    words = ["invoice", "contract", "room", "portal", "backup", "report", "draft", "final",
             "quarter", "budget", "meeting", "notes", "customer", "vendor", "policy", "review"]
    text_dir = os.path.join(out, "text")
    os.makedirs(text_dir, exist_ok=True)
    target, i = int(total * 0.4), 0
    while target > 0:
        lines, n = [], 0
        while n < 16 << 20:
            rec = {"id": rnd.randrange(10**9), "title": " ".join(rnd.choices(words, k=6)),
                   "amount": round(rnd.random() * 10000, 2), "tags": rnd.sample(words, 3),
                   "body": " ".join(rnd.choices(words, k=rnd.randrange(10, 60)))}
            line = json.dumps(rec) + "\n"
            lines.append(line)
            n += len(line)
        data = "".join(lines).encode()
        with open(os.path.join(text_dir, f"records-{i:03}.jsonl"), "wb") as f:
            f.write(data)
        target -= len(data)
        i += 1

    # Incompressible: 32 MiB binaries.
    bin_dir = os.path.join(out, "media")
    os.makedirs(bin_dir, exist_ok=True)
    target, i = int(total * 0.4), 0
    while target > 0:
        n = min(32 << 20, target)
        with open(os.path.join(bin_dir, f"video-{i:03}.bin"), "wb") as f:
            f.write(rnd.randbytes(n))
        target -= n
        i += 1

    # Many small files: 1-12 KiB, half text, half binary, in 200 directories.
    small = os.path.join(out, "small")
    target, i = int(total * 0.2), 0
    while target > 0:
        d = os.path.join(small, f"d{i % 200:03}")
        if i < 200:
            os.makedirs(d, exist_ok=True)
        n = rnd.randrange(1024, 12 * 1024)
        data = rnd.randbytes(n) if i % 2 else (" ".join(rnd.choices(words, k=n // 6))).encode()[:n]
        with open(os.path.join(d, f"f{i:06}.dat"), "wb") as f:
            f.write(data)
        target -= n
        i += 1
    print(f"{out}: {size_mib} MiB target, {i} small files")

if __name__ == "__main__":
    main()
