#!/usr/bin/env python3
"""Backup and restore, measured end to end on the real binaries.

    benches/engine.py [--issues N] [--pages N] [--projects N] [--latency-ms MS] [--seed S]
                      [--latency-median-ms MS --latency-p99-ms MS] [--rate-limit LIMITS]
                      [--products jira,confluence] [--skip-restore] [--no-build]
                      [--restore-concurrency 1,8] [--export] [--restore-archive]

Starts `cairn sim` (a generated source site and two empty targets) and `cairn serve` (SQLite, the
built-in vault in a temporary directory), both release builds, then through the API:

1. a full backup of each product;
2. `mutate --percent 1` on the source, then the incremental backup of each product;
3. a full restore of each product's incremental backup into the first empty target;
4. the restore of the smallest project and the smallest space into the second target;
5. one issue (of the largest project) and one page deleted from the source, then restored alone
   into it from the backup (`issueKeys`, `pageIds`);
6. with `--restore-concurrency 1,8`: for each value, `cairn serve` restarted with
   `[engine] site_concurrency` at that value, and a full Jira restore of the incremental backup
   into an empty target of its own (the same restore at each width, measured in one run);
7. with `--export`: each full backup downloaded as its tar and then its zip export
   (`GET .../backups/{id}/export?format=`), read to the end and counted (MB/s, peak RSS of the
   server while it streams);
8. with `--restore-archive`: each product's incremental backup downloaded as a zip to a file,
   then restored from the file alone with `cairn restore-archive` into an empty target of its
   own (the command's own wall time, CPU and peak RSS, from wait4), beside step 3's full restore
   of the same backup through the API.

For each step it prints wall time, items and bytes (from the backup's `stats` and `backupSize`,
the restore's `result`), the requests the site served (its `/__sim/counters`), the `cairn serve`
process's CPU time over wall time (the share of the time the engine works rather than waits on
the site) and its peak RSS during the step (VmHWM, reset before each step through
/proc/PID/clear_refs). `--latency-ms` adds that much to every site request (Atlassian answers in
50-300 ms), to show the engine is not the bottleneck at a real site's pace;
`--latency-median-ms`/`--latency-p99-ms` draw each request's latency from a log-normal
distribution instead, and `--rate-limit` gives the stand-in Atlassian's limits (the value of
`cairn sim --rate-limit`, e.g. `burst=10,issue-writes=20/2s,hourly=65000`: a burst limit per
endpoint and method per second, per-issue writes, an hourly tenant quota). A second table gives,
for each step, the site's requests per issue, its 429s by reason (from `/__sim/stats`), the
achieved request rate, and the busiest endpoint's rate while in use against the burst limit
(and the total against the hourly quota) when those are set.

Prints a Markdown table. Builds the release binary first (CARGO_TARGET_DIR or
/var/tmp/cairn-target).
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def http(method, url, user, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Proc:
    """A process's CPU time and peak RSS, from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 (1-based), after the command name.
        return (int(fields[11]) + int(fields[12])) / TICKS

    def reset_peak(self):
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")

    def peak_mib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def wait_done(api, user, path):
    while True:
        status, v = http("GET", api + path, user)
        assert status == 200, (path, status, v)
        if v["status"] not in ("CREATED", "IN_PROGRESS"):
            return v
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--issues", type=int, default=2000)
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--projects", type=int, default=8)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--latency-median-ms", type=float)
    ap.add_argument("--latency-p99-ms", type=float)
    ap.add_argument("--rate-limit", help="cairn sim --rate-limit, e.g. burst=10,hourly=65000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--endpoints", type=int, default=0,
                    help="also list each step's N busiest endpoints (requests, 429s)")
    ap.add_argument("--products", default="jira,confluence")
    ap.add_argument("--skip-restore", action="store_true")
    ap.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    ap.add_argument("--export", action="store_true",
                    help="also download each full backup's tar and zip export (step 7)")
    ap.add_argument("--restore-archive", action="store_true",
                    help="restore each incremental backup's zip with cairn restore-archive")
    ap.add_argument("--restore-concurrency", default="",
                    help="comma-separated site_concurrency values for step 6 (e.g. 1,8)")
    args = ap.parse_args()
    widths = [int(x) for x in args.restore_concurrency.split(",") if x]

    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/cairn-target")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "cairn"], cwd=ROOT,
                       check=True)
    binary = os.path.join(target, "release", "cairn")
    work = tempfile.mkdtemp(prefix="cairn-engine-bench-")
    procs = []
    sim_limits = []
    if args.rate_limit:
        sim_limits += ["--rate-limit", args.rate_limit]
    if args.latency_median_ms is not None or args.latency_p99_ms is not None:
        if args.latency_median_ms is None or args.latency_p99_ms is None:
            sys.exit("--latency-median-ms and --latency-p99-ms go together")
        sim_limits += ["--latency-median-ms", str(args.latency_median_ms),
                       "--latency-p99-ms", str(args.latency_p99_ms)]
    try:
        sim = subprocess.Popen(
            [binary, "sim", "--scale", "medium", "--seed", str(args.seed),
             "--issues", str(args.issues), "--pages", str(args.pages),
             "--projects", str(args.projects),
             "--sites", ",".join(["source", "target:empty", "target2:empty"]
                                 + [f"target-c{n}:empty" for n in widths]
                                 + [f"archive-{p}:empty" for p in args.products.split(",")
                                    if args.restore_archive]), "--json"] + sim_limits,
            stdout=subprocess.PIPE, text=True)
        procs.append(sim)
        ready = json.loads(sim.stdout.readline())
        sites = {s["name"]: s for s in ready["sites"]}
        account = next(a for a in ready["accounts"] if a["access"] == "read-write")
        site_user = f'{account["email"]}:{account["apiToken"]}'
        if args.latency_ms:
            for s in sites.values():
                http("PUT", s["baseUrl"] + "/__sim/faults", site_user,
                     {"latencyMs": args.latency_ms})

        def start_serve(concurrency=None):
            with open(os.path.join(work, "cairn.toml"), "w") as f:
                f.write("[management]\nscheduler_tick_secs = 1\n[auth]\nrate_per_second = 100000\nrate_burst = 100000\n"
                        # The stand-in's sites are on loopback.
                        "[outbound]\nallow = [\"127.0.0.1\"]\n")
                if concurrency:
                    f.write(f"[engine]\nsite_concurrency = {concurrency}\n")
            log = open(os.path.join(work, "serve.log"), "a")
            serve = subprocess.Popen(
                [binary, "serve", "--data-dir", os.path.join(work, "data"), "--config",
                 os.path.join(work, "cairn.toml"), "--listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE, stderr=log, text=True)
            procs.append(serve)
            while True:
                line = serve.stdout.readline()
                if not line:
                    sys.exit("cairn serve exited: see " + log.name)
                for label in ("Organization id:", "Admin email:", "API token:"):
                    if line.strip().startswith(label):
                        out[label] = line.split(":", 1)[1].strip()
                if line.startswith("Cairn is serving on "):
                    return serve, line.split()[-1]

        out = {}
        serve, base = start_serve()
        proc = Proc(serve.pid)
        user = f'{out["Admin email:"]}:{out["API token:"]}'
        api = f'{base}/public/backup-management/v2/orgs/{out["Organization id:"]}'
        ids = {}
        for name, s in sites.items():
            status, v = http("POST", api + "/sites", user, {
                "cloudUrl": s["baseUrl"], "email": account["email"],
                "apiToken": account["apiToken"]})
            assert status == 201, v
            ids[name] = v["cloudId"]

        rows = []
        pace = []

        def step(label, fn, site="source", issues=None):
            http("DELETE", sites[site]["baseUrl"] + "/__sim/log", site_user)
            http("DELETE", sites[site]["baseUrl"] + "/__sim/stats", site_user)
            proc.reset_peak()
            cpu0, t0 = proc.cpu_seconds(), time.monotonic()
            result = fn()
            wall = time.monotonic() - t0
            cpu = proc.cpu_seconds() - cpu0
            _, counters = http("GET", sites[site]["baseUrl"] + "/__sim/counters", site_user)
            requests = sum(counters.values()) if isinstance(counters, dict) else 0
            _, stats = http("GET", sites[site]["baseUrl"] + "/__sim/stats", site_user)
            rows.append((label, wall, cpu / wall if wall else 0.0, proc.peak_mib(), requests,
                         result))
            pace.append((label, wall, issues, stats))
            return result

        def backup(policy):
            status, b = http("POST", f"{api}/policies/{policy}/backups", user)
            assert status == 202, b
            b = wait_done(api, user, f'/backups/{b["backupId"]}')
            assert b["status"] == "COMPLETED", b
            return b

        products = args.products.split(",")
        policies = {}
        for product in products:
            status, p = http("POST", api + "/policies", user, {
                "policyName": f"bench {product}", "cloudId": ids["source"],
                "productType": product.upper(), "includeUsersAndGroups": True})
            assert status == 201, p
            policies[product] = p["policyId"]
        jira_issues = {"jira": args.issues}
        full = {p: step(f"full backup, {p}", lambda p=p: backup(policies[p]),
                        issues=jira_issues.get(p)) for p in products}
        status, report = http("POST", sites["source"]["baseUrl"] + "/__sim/mutate?percent=1",
                              site_user)
        incremental = {p: step(f"incremental backup after 1%, {p}",
                               lambda p=p: backup(policies[p]),
                               issues=jira_issues.get(p)) for p in products}


        def restore(backup_id, dest, **keys):
            body = {"backupId": backup_id, "destinationCloudId": ids[dest], **keys}
            status, r = http("POST", api + "/restores", user, body)
            assert status == 202, r
            r = wait_done(api, user, f'/restores/{r["restoreId"]}')
            assert r["status"] == "COMPLETED", r
            return r

        if not args.skip_restore:
            for p in products:
                step(f"full restore, {p}",
                     lambda p=p: restore(incremental[p]["backupId"], "target"), site="target",
                     issues=jira_issues.get(p))
            # The smallest project and space: the granular restore's fixed cost.
            _, content = http("GET", sites["source"]["baseUrl"] + "/__sim/content", site_user)
            if "jira" in products:
                projects = content["jira"]["projects"]
                key = min(projects, key=lambda k: len(projects[k].get("issues", {})))
                step(f"restore of one project ({len(projects[key].get('issues', {}))} issues), jira",
                     lambda: restore(incremental["jira"]["backupId"], "target2",
                                     projectKeys=[key]), site="target2")
            if "confluence" in products:
                spaces = {k: v for k, v in content["confluence"]["spaces"].items()
                          if not k.startswith("~")}
                key = min(spaces, key=lambda k: len(spaces[k].get("pages", {})))
                step(f"restore of one space ({len(spaces[key].get('pages', {}))} pages), confluence",
                     lambda: restore(incremental["confluence"]["backupId"], "target2",
                                     spaceKeys=[key]), site="target2")

            # One issue and one page deleted from the source, then restored alone from the
            # backup into it: the single-item restore's cost (finding the item in a large
            # backup, and what the destination is asked).
            src = sites["source"]["baseUrl"]
            if "jira" in products:
                projects = content["jira"]["projects"]
                big = max(projects, key=lambda k: len(projects[k].get("issues", {})))
                _, found = http("GET", src + f"/rest/api/3/search/jql?jql=project%20%3D%20{big}"
                                "%20ORDER%20BY%20key%20DESC&maxResults=50&fields=subtasks,parent",
                                site_user)
                issue = next(i for i in found["issues"]
                             if not i["fields"].get("parent") and not i["fields"].get("subtasks"))
                status, _ = http("DELETE", src + f'/rest/api/3/issue/{issue["key"]}', site_user)
                assert status == 204, status
                step(f"restore of one issue ({issue['key']}, project of "
                     f"{len(projects[big].get('issues', {}))}), jira",
                     lambda: restore(incremental["jira"]["backupId"], "source",
                                     issueKeys=[issue["key"]]))
            if "confluence" in products:
                _, listed = http("GET", src + "/wiki/api/v2/pages?limit=250", site_user)
                page = next(p for p in listed["results"] if p.get("parentId"))
                status, _ = http("DELETE", src + f'/wiki/api/v2/pages/{page["id"]}', site_user)
                assert status == 204, status
                step("restore of one page, confluence",
                     lambda: restore(incremental["confluence"]["backupId"], "source",
                                     pageIds=[page["id"]]))

        # Step 6: the same full Jira restore at each site_concurrency, cairn serve restarted
        # with it (the store and the vault stay).
        for n in widths if "jira" in products else []:
            serve.terminate()
            serve.wait()
            serve, base = start_serve(n)
            proc = Proc(serve.pid)
            api = f'{base}/public/backup-management/v2/orgs/{out["Organization id:"]}'
            step(f"full restore at site_concurrency {n}, jira",
                 lambda n=n: restore(incremental["jira"]["backupId"], f"target-c{n}"),
                 site=f"target-c{n}")

        # Step 7: the full backups' exports, tar then zip, streamed to nowhere.
        def export(backup_id, fmt):
            req = urllib.request.Request(f"{api}/backups/{backup_id}/export?format={fmt}")
            req.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
            n = 0
            with urllib.request.urlopen(req) as resp:
                length = int(resp.headers["Content-Length"])
                while chunk := resp.read(1 << 20):
                    n += len(chunk)
            assert n == length, (n, length)
            return {"export": fmt, "bytes": n}

        for p in products if args.export else []:
            for fmt in ("tar", "zip"):
                step(f"export of the full backup as {fmt}, {p}",
                     lambda p=p, fmt=fmt: export(full[p]["backupId"], fmt))

        # Step 8: each incremental backup's zip restored from the file alone.
        def restore_archive(p):
            path = os.path.join(work, f"{p}.zip")
            req = urllib.request.Request(
                f"{api}/backups/{incremental[p]['backupId']}/export?format=zip")
            req.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
            with urllib.request.urlopen(req) as resp, open(path, "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
            token_file = os.path.join(work, "site-token")
            with open(token_file, "w") as f:
                f.write(account["apiToken"])
            dest = sites[f"archive-{p}"]["baseUrl"]
            http("DELETE", dest + "/__sim/log", site_user)
            t0 = time.monotonic()
            child = subprocess.Popen(
                [binary, "restore-archive", path, "--site-url", dest,
                 "--email", account["email"], "--api-token-file", token_file,
                 "--work-dir", os.path.join(work, "restore-archive"), "--json",
                 "--config", os.path.join(work, "cairn.toml")],
                stdout=subprocess.PIPE, text=True)
            stdout = child.stdout.read()
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = status
            wall = time.monotonic() - t0
            assert status == 0, stdout
            r = json.loads(stdout)["restore"]
            assert r["status"] == "COMPLETED", r
            _, counters = http("GET", dest + "/__sim/counters", site_user)
            requests = sum(counters.values()) if isinstance(counters, dict) else 0
            cpu = usage.ru_utime + usage.ru_stime
            rows.append((f"restore-archive of the incremental backup's zip, {p}", wall,
                         cpu / wall if wall else 0.0, usage.ru_maxrss / 1024, requests, r))

        for p in products if args.restore_archive else []:
            restore_archive(p)

        print(f"\nSite: {args.issues} issues in {args.projects} projects, {args.pages} pages "
              f"(seed {args.seed}); latency {args.latency_ms} ms per request; mutation {report}\n")
        print("| step | wall s | items | items/s | MB read | MB/s | new MB stored | site requests "
              "| engine CPU / wall | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, wall, share, peak, requests, r in rows:
            if "export" in r:
                items, mb, new, read = 0, r["bytes"] / 1e6, None, r["bytes"] / 1e6
            elif "backupId" in r and "restoreId" not in r:
                stats = r.get("stats") or {}
                size = r["backupSize"]
                mb = (size["usersSize"] + size["dataSize"] + size["attachmentsSize"]) / 1e6
                items = stats.get("itemsChanged", 0) + stats.get("itemsUnchanged", 0)
                new = stats.get("newBytesStored", 0) / 1e6
                read = mb if "full" in label else None
            else:
                created = (r.get("result") or {}).get("created") or {}
                items = sum(created.values())
                progress = r.get("progress") or {}
                mb = progress.get("bytesDone", 0) / 1e6
                new, read = None, mb
            fmt = lambda x: "" if x is None else f"{x:.1f}"
            print(f"| {label} | {wall:.1f} | {items} | {items / wall:.0f} | {fmt(mb)} | "
                  f"{mb / wall:.1f} | {fmt(new)} | {requests} | {share:.0%} | {peak:.0f} |")
        print_pace(pace, args)
        exports = {label: wall for label, wall, *_ in rows if label.startswith("export of")}
        for p in products if args.export else []:
            tar = exports[f"export of the full backup as tar, {p}"]
            zip_ = exports[f"export of the full backup as zip, {p}"]
            print(f"\nExport, {p}: zip streams at {tar / zip_:.0%} of tar's throughput")
        walls = {label: wall for label, wall, *_ in rows}
        for p in products if args.restore_archive and not args.skip_restore else []:
            api_wall = walls[f"full restore, {p}"]
            archive_wall = walls[f"restore-archive of the incremental backup's zip, {p}"]
            print(f"\nRestore from the archive, {p}: {archive_wall:.1f} s against {api_wall:.1f} s "
                  f"through the API ({archive_wall / api_wall - 1:+.0%})")
        timed = {n: wall for n in widths for label, wall, *_ in rows
                 if label == f"full restore at site_concurrency {n}, jira"}
        if len(timed) > 1:
            slowest = timed[min(timed)]
            print("\nFull Jira restore: " + ", ".join(
                f"site_concurrency {n}: {t:.1f} s ({slowest / t:.1f}x)" for n, t in timed.items()))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", work])


def print_pace(pace, args):
    """The site's side of each step: requests per issue, 429s, rate against the limits."""
    spec = {}
    if pace and isinstance(pace[0][3], dict):
        spec = pace[0][3].get("throttle") or {}
    burst = (spec.get("burst") or {}).get("perSecond")
    hourly = (spec.get("tenantQuota") or {}).get("perHour")
    print(f"\nSite limits: {args.rate_limit or 'none'}; latency "
          + (f"log-normal median {args.latency_median_ms} ms, p99 {args.latency_p99_ms} ms"
             if args.latency_median_ms is not None else f"{args.latency_ms} ms") + "\n")
    print("| step | site requests | per issue | 429s | 429 % | by reason | req/s "
          "| busiest endpoint | its admitted req/s while in use (peak 1 s) | of burst limit "
          "| of hourly quota's rate |")
    print("|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|")
    for label, wall, issues, st in pace:
        # Steps that ask the site nothing (the exports) have no row here.
        if not isinstance(st, dict) or not st["requests"]:
            continue
        n, throttled = st["requests"], st["throttled"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(st["throttledByReason"].items()))
        per_issue = f"{n / issues:.2f}" if issues else ""
        rate = n / wall if wall else 0.0
        name, e = max(st["endpoints"].items(), key=lambda kv: kv[1]["requests"],
                      default=("", {"requests": 0, "peakPerSecond": 0}))
        # Admitted requests (a 429 uses no budget) over the seconds the endpoint was in use,
        # against the limits.
        active = e.get("activeSeconds") or wall
        e_rate = (e["requests"] - e.get("throttled", 0)) / active if active else 0.0
        of_burst = f"{e_rate / burst:.0%}" if burst else ""
        of_quota = f"{(n - throttled) / wall * 3600 / hourly:.0%}" if hourly and wall else ""
        print(f"| {label} | {n} | {per_issue} | {throttled} | "
              f"{(throttled / n if n else 0):.2%} | {reasons} | {rate:.1f} | `{name}` | "
              f"{e_rate:.1f} ({e['peakPerSecond']}) | {of_burst} | {of_quota} |")
    if args.endpoints:
        print(f"\nThe {args.endpoints} busiest endpoints of each step (requests, 429s):")
        for label, _, issues, st in pace:
            if not isinstance(st, dict):
                continue
            top = sorted(st["endpoints"].items(), key=lambda kv: -kv[1]["requests"])
            print(f"- {label}: " + "; ".join(
                f"`{name}` {e['requests']}"
                + (f" ({e['requests'] / issues:.2f}/issue)" if issues else "")
                + (f", {e['throttled']} 429s" if e.get("throttled") else "")
                for name, e in top[:args.endpoints]))


if __name__ == "__main__":
    main()
