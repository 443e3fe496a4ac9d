#!/usr/bin/env python3
"""Builds a reproducible tree of FILES (default 1 000 000) small files in DIR: directories of
1 000 files each, every file 40-90 bytes of JSON-ish text. The same seed gives the same bytes.
Usage: bench/gen_small.py DIR [FILES]"""
import os
import random
import sys


def main():
    out = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rnd = random.Random(20261213)
    words = ["room", "file", "draft", "note", "user", "team", "plan", "doc", "sheet", "slide"]
    per_dir = 1000
    for d in range((files + per_dir - 1) // per_dir):
        dir_path = os.path.join(out, f"d{d:04d}")
        os.makedirs(dir_path, exist_ok=True)
        for f in range(min(per_dir, files - d * per_dir)):
            body = '{"id": %d, "t": "%s"}\n' % (
                rnd.randrange(10**9), " ".join(rnd.choices(words, k=rnd.randrange(3, 10))))
            with open(os.path.join(dir_path, f"f{f:04d}.json"), "w") as fh:
                fh.write(body)


if __name__ == "__main__":
    main()
