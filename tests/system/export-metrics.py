#!/usr/bin/python3
"""Parse a Prometheus text exposition file (the textfile collector's format)
strictly enough to catch format mistakes; print one JSON object of
{"name{labels}": value} on success, exit 1 with the reason otherwise."""
import json, math, re, sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (\S+)$')
types, samples, seen_help = {}, {}, set()
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ", 3)
        if kind not in ("counter", "gauge", "histogram", "summary", "untyped") or name in types:
            sys.exit(f"line {n}: bad or repeated TYPE: {line}")
        types[name] = kind
        continue
    if line.startswith("# HELP ") or line == "":
        continue
    m = LINE.match(line)
    if not m:
        sys.exit(f"line {n}: not a sample: {line!r}")
    name, labels, value = m.group(1), m.group(3) or "", m.group(4)
    base = re.sub(r'_(bucket|sum|count)$', '', name) if re.sub(r'_(bucket|sum|count)$', '', name) in types else name
    if base not in types:
        sys.exit(f"line {n}: {name} has no TYPE line before it")
    try:
        v = float(value)
    except ValueError:
        sys.exit(f"line {n}: value {value!r} is not a number")
    key = f"{name}{{{labels}}}"
    if key in samples:
        sys.exit(f"line {n}: repeated sample {key}")
    samples[key] = v
# histograms: buckets never decrease and +Inf equals _count
for name, kind in types.items():
    if kind != "histogram":
        continue
    series = {}
    for key, v in samples.items():
        m = re.match(re.escape(name) + r'_bucket\{(.*),le="([^"]+)"\}$', key)
        if m:
            series.setdefault(m.group(1), []).append((math.inf if m.group(2) == "+Inf" else float(m.group(2)), v))
    for labels, buckets in series.items():
        buckets.sort()
        if any(b[1] > c[1] for b, c in zip(buckets, buckets[1:])) or buckets[-1][0] != math.inf:
            sys.exit(f"{name}{{{labels}}}: buckets decrease or no +Inf bucket")
        if samples.get(f"{name}_count{{{labels}}}") != buckets[-1][1]:
            sys.exit(f"{name}{{{labels}}}: +Inf bucket differs from _count")
print(json.dumps(samples))
