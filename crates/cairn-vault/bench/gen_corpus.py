#!/usr/bin/env python3
"""Generate the comparison corpus: JSON documents (Jira-like) and binary files, deterministic.

    gen_corpus.py DIR [--scale 1.0]        # ~1 GB at scale 1.0
    gen_corpus.py DIR --mutate 0.01        # change ~1% of the data in place
"""
import json, os, random, sys

def main():
    d = sys.argv[1]
    scale = float(sys.argv[sys.argv.index('--scale') + 1]) if '--scale' in sys.argv else 1.0
    if '--mutate' in sys.argv:
        return mutate(d, float(sys.argv[sys.argv.index('--mutate') + 1]))
    rnd = random.Random(42)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "deploy", "fix", "bug", "release", "customer", "login",
             "timeout", "database", "migration", "review", "sprint", "backlog", "urgent", "blocked", "done"]
    n_docs = int(100_000 * scale)
    for i in range(n_docs):
        proj = f"P{i % 20}"
        p = os.path.join(d, "jira", proj)
        if i < 20:
            os.makedirs(p, exist_ok=True)
        doc = {
            "id": str(10000 + i), "key": f"{proj}-{i}",
            "fields": {
                "summary": " ".join(rnd.choice(words) for _ in range(8)),
                "description": " ".join(rnd.choice(words) for _ in range(rnd.randint(100, 900))),
                "status": {"name": rnd.choice(["To Do", "In Progress", "Done"])},
                "updated": f"2026-11-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:00:00.000+0000",
                "comments": [{"author": f"user{rnd.randint(1, 50)}", "body": " ".join(rnd.choice(words) for _ in range(30))}
                             for _ in range(rnd.randint(0, 5))],
            },
        }
        with open(os.path.join(p, f"{proj}-{i}.json"), "w") as f:
            json.dump(doc, f, sort_keys=True)
    os.makedirs(os.path.join(d, "attachments"), exist_ok=True)
    n_bin = int(60 * scale)
    for i in range(n_bin):
        with open(os.path.join(d, "attachments", f"a{i}.bin"), "wb") as f:
            if i % 2 == 0:
                f.write(rnd.randbytes(10 << 20))  # incompressible (images, archives)
            else:
                # compressible binary: repeated structured records with noise
                rec = rnd.randbytes(4096)
                out = bytearray()
                while len(out) < (10 << 20):
                    out += rec[: rnd.randint(1000, 4096)] + rnd.randbytes(512)
                f.write(out[: 10 << 20])

def mutate(d, share):
    rnd = random.Random(7)
    files = []
    for root, _, names in os.walk(d):
        files += [os.path.join(root, n) for n in names]
    files.sort()
    total = sum(os.path.getsize(f) for f in files)
    budget = int(total * share)
    changed = 0
    docs = [f for f in files if f.endswith(".json")]
    bins = [f for f in files if f.endswith(".bin")]
    # Half of the budget: rewrite whole documents (an edited issue); half: 64 KiB patches in attachments.
    for f in rnd.sample(docs, len(docs)):
        if changed >= budget // 2:
            break
        with open(f) as fh:
            doc = json.load(fh)
        doc["fields"]["summary"] += " (edited)"
        with open(f, "w") as fh:
            json.dump(doc, fh, sort_keys=True)
        changed += os.path.getsize(f)
    while changed < budget:
        f = rnd.choice(bins)
        size = os.path.getsize(f)
        with open(f, "r+b") as fh:
            fh.seek(rnd.randrange(0, size - 65536))
            fh.write(rnd.randbytes(65536))
        changed += 65536
    print(f"mutated {changed} of {total} bytes ({100 * changed / total:.2f}%)")

main()
