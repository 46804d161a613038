#!/usr/bin/env python3
"""Turns bench/run's raw figures (one `key value` a line, a key once per repeat) into the
Markdown it prints and appends to bench/RESULTS.md: medians, ratios, and each target of issue 11
met or missed.

    report.py RESULTS_TSV HEADER_LINE
"""
import statistics
import sys
from collections import defaultdict

raw = defaultdict(list)
with open(sys.argv[1]) as results:
    for line in results:
        key, value = line.split()
        raw[key].append(float(value))


def med(key):
    values = raw.get(key)
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    return "" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


def added_us(target, conns, pct):
    # The added latency of each run against the upstream's of the same round, then the median.
    own, base = raw.get(f"{pct}:{target}:{conns}", []), raw.get(f"{pct}:upstream:{conns}", [])
    pairs = [(o - b) * 1000 for o, b in zip(own, base)]
    return statistics.median(pairs) if pairs else None


ROWS = [
    ("upstream alone (nginx, canned JSON)", "upstream"),
    ("nginx proxy_pass", "nginx"),
    ("bare axum handler (ceiling)", "bare"),
    ("gateway read (sqlite)", "read-sqlite"),
    ("gateway read, `Cache-Control: no-cache` (sqlite)", "nocache-sqlite"),
    ("gateway read (redis)", "read-redis"),
]
out = [sys.argv[2], ""]
out.append("| target | req/s c64 | x nginx | req/s c256 | x nginx | p50 ms c64 | p99 ms c64 "
           "| added p50 µs c64 | gateway CPU µs/req |")
out.append("|---|---|---|---|---|---|---|---|---|")
for name, key in ROWS:
    if med(f"rps:{key}:64") is None:
        continue
    cells = [name]
    for conns in (64, 256):
        rps = med(f"rps:{key}:{conns}")
        cells += [fmt(rps), fmt(ratio(rps, med(f"rps:nginx:{conns}")), 2)]
    cells += [fmt(med(f"p50:{key}:64"), 3), fmt(med(f"p99:{key}:64"), 3)]
    cells.append("" if key == "upstream" else fmt(added_us(key, 64, "p50")))
    cells.append(fmt(med(f"cpu:{key}:64")))
    out.append("| " + " | ".join(cells) + " |")

out += ["", "Unloaded (wrk -t1 -c1), latency over the upstream alone's:", ""]
out.append("| target | p50 µs | p99 µs | added p50 µs | added p99 µs |")
out.append("|---|---|---|---|---|")
for name, key in ROWS:
    if med(f"p50:{key}:1") is None:
        continue
    cells = [name, fmt(med(f"p50:{key}:1") * 1000), fmt(med(f"p99:{key}:1") * 1000)]
    if key == "upstream":
        cells += ["", ""]
    else:
        cells += [fmt(added_us(key, 1, "p50")), fmt(added_us(key, 1, "p99"))]
    out.append("| " + " | ".join(cells) + " |")

out += ["", "| create path (c64) | req/s | p50 ms | p99 ms | gateway CPU µs/req | create/read |",
        "|---|---|---|---|---|---|"]
for store in ("sqlite", "redis"):
    rps = med(f"rps:create-{store}:64")
    if rps is None:
        continue
    out.append(f"| gateway create ({store}) | {fmt(rps)} | {fmt(med(f'p50:create-{store}:64'), 3)} "
               f"| {fmt(med(f'p99:create-{store}:64'), 3)} | {fmt(med(f'cpu:create-{store}:64'))} "
               f"| {fmt(ratio(rps, med(f'rps:read-{store}:64')), 2)} |")

notes = []
if med("poll:total"):
    ok, total = med("poll:2xx"), med("poll:total")
    notes.append(f"Polling with the default upstream budget (c64, one run): {ok:,.0f} of {total:,.0f} "
                 f"reads 2xx ({100 * ok / total:.2f} %).")
if med("rss:idle") is not None:
    notes.append(f"RSS idle {fmt(med('rss:idle'), 1)} MB, with 1,000 open keep-alive connections "
                 f"{fmt(med('rss:conns'), 1)} MB, after the load {fmt(med('rss:after'), 1)} MB (sqlite).")
if med("ready") is not None:
    notes.append(f"Ready (first 200 of /readyz after exec, fresh SQLite store): {fmt(med('ready'), 1)} ms.")
if med("bytes:create-sqlite") is not None:
    notes.append(f"Bytes written per create: sqlite {fmt(med('bytes:create-sqlite'))}, "
                 f"redis {fmt(med('bytes:create-redis'))}.")
if med("rcpu:read-redis:64") is not None:
    notes.append(f"redis-server CPU µs/request: read {fmt(med('rcpu:read-redis:64'))}, "
                 f"create {fmt(med('rcpu:create-redis:64'))}.")
if raw.get("non2xx"):
    notes.append(f"**{int(sum(raw['non2xx']))} runs had answers that were not 2xx** "
                 "(see the run's output): their figures are not valid.")

# Issue 11's targets.
def check(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


targets = []
for conns in (64, 256):
    r = ratio(med(f"rps:read-sqlite:{conns}"), med(f"rps:nginx:{conns}"))
    targets.append(f"served read >= 1.0x nginx at c{conns}: {fmt(r, 2)}x "
                   f"({check(None if r is None else r >= 1.0)})")
g50, n50 = added_us("read-sqlite", 1, "p50"), added_us("nginx", 1, "p50")
g99 = added_us("read-sqlite", 1, "p99")
if g50 is not None and n50 is not None:
    targets.append(f"added p50 unloaded <= nginx's: {g50:.0f} µs vs {n50:.0f} µs ({check(g50 <= n50)})")
if g99 is not None:
    # Over the upstream alone's p99: on a shared VM the upstream's own p99 moves by milliseconds.
    targets.append(f"added p99 unloaded <= 1 ms: {g99:.0f} µs (the read's own p99 "
                   f"{med('p99:read-sqlite:1'):.3f} ms, the upstream's {med('p99:upstream:1'):.3f} ms) "
                   f"({check(g99 <= 1000)})")
r = ratio(med("rps:nocache-sqlite:64"), med("rps:nginx:64"))
if r is not None:
    targets.append(f"no-cache read >= 0.6x nginx: {r:.2f}x ({check(r >= 0.6)})")
if med("poll:total"):
    targets.append(f"polling 100 % 2xx: ({check(med('poll:2xx') == med('poll:total'))})")
if med("rss:idle") is not None:
    targets.append(f"RSS <= 40 MB idle, <= 120 MB at 1,000 connections: "
                   f"({check(med('rss:idle') <= 40 and (med('rss:conns') or 0) <= 120)})")
if med("ready") is not None:
    targets.append(f"ready <= 100 ms: ({check(med('ready') <= 100)})")
u, b = med("rps:upstream:64"), med("rps:bare:64")
extra = ""
if u and b:
    extra = (f" For scale: bare axum {b / med('rps:nginx:64'):.2f}x nginx, the served read "
             f"{ratio(med('rps:read-sqlite:64'), u):.2f}x the upstream alone (moonshot 0.8x).")
out += ["", " ".join(notes), "", "Targets: " + "; ".join(targets) + "." + extra]
print("\n".join(out))
