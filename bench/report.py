#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn bench/run's results.tsv into a table on stdout and results.json.

usage: report.py RESULTS.tsv NOTES.txt OUT.json "TERMINATORS" IDLE_N
Each row shows every terminator, then ktlsd divided by the best of the
others (the anchors): above 1 is better for rates, below 1 is better for
costs.
"""
import json
import os
import platform
import sys

tsv, notes_path, out_json, terms, idle_n = sys.argv[1:6]
terms = terms.split()
vals = {}
with open(tsv) as f:
    for line in f:
        name, metric, value = line.rstrip("\n").split("\t")
        try:
            vals.setdefault(name, {})[metric] = float(value)
        except ValueError:
            pass
ref = vals.get("openssl", {})
aes = ref.get("aes128gcm_mbps")
rate = vals.get(terms[0], {}).get("latency_rate", 0)

# (label, metric, higher_is_better, format)
ROWS = [
    ("full handshakes/s (saturation)", "handshakes_per_s", True, "%.0f"),
    ("  CPU-us per handshake", "handshakes_cpu_us", False, "%.0f"),
    ("handshake p50 us at %d/s" % rate, "latency_p50_us", False, "%.0f"),
    ("handshake p99 us at %d/s" % rate, "latency_p99_us", False, "%.0f"),
    ("handshake+req/resp per s", "reqresp_per_s", True, "%.0f"),
    ("  CPU-us per connection", "reqresp_cpu_us", False, "%.0f"),
    ("bulk 1 stream MB/s", "bulk1_mbps", True, "%.0f"),
    ("  fraction of AES-128-GCM", "bulk1_frac", True, "%.2f"),
    ("  CPU-s per GiB", "bulk1_cpu_s_per_gib", False, "%.2f"),
    ("bulk 8 streams MB/s", "bulk8_mbps", True, "%.0f"),
    ("  fraction of AES-128-GCM", "bulk8_frac", True, "%.2f"),
    ("  CPU-s per GiB", "bulk8_cpu_s_per_gib", False, "%.2f"),
    ("KiB per idle session (%s)" % idle_n, "idle_kib_per_session", False, "%.1f"),
]
for t in terms:
    v = vals.get(t, {})
    for b in ("bulk1", "bulk8"):
        if aes and b + "_mbps" in v:
            v[b + "_frac"] = v[b + "_mbps"] / aes

present = [t for t in terms if t in vals]
anchors = [t for t in present if t != "ktlsd"]
width = 32
print()
print("%-*s" % (width, "") + "".join("%10s" % t for t in present) +
      "%14s" % "ktlsd/best")
result_rows = []
for label, metric, higher, fmt in ROWS:
    cells, row = [], {"row": label.strip(), "metric": metric,
                      "higher_is_better": higher, "values": {}}
    for t in present:
        x = vals[t].get(metric)
        row["values"][t] = x
        cells.append("%10s" % (fmt % x if x is not None else "-"))
    ratio = None
    k = vals.get("ktlsd", {}).get(metric)
    others = [vals[t][metric] for t in anchors if metric in vals[t]]
    if k is not None and others:
        best = max(others) if higher else min(others)
        ratio = k / best if best else None
    row["ktlsd_over_best_anchor"] = ratio
    result_rows.append(row)
    print("%-*s" % (width, label) + "".join(cells) +
          "%14s" % ("%.2f" % ratio if ratio is not None else "-"))
print()
print("references on one core: AES-128-GCM %s MB/s (16 KiB blocks), "
      "ECDSA P-256 %s sign/s, X25519 %s op/s" %
      (ref.get("aes128gcm_mbps"), ref.get("ecdsap256_sign_per_s"),
       ref.get("x25519_per_s")))
errors = {t: {m: vals[t][m] for m in vals[t] if m.endswith("_errors")
              and vals[t][m]} for t in present}
errors = {t: e for t, e in errors.items() if e}
if errors:
    print("client-side errors:", errors)
notes = open(notes_path).read().split("\n") if os.path.exists(notes_path) else []
notes = [n for n in notes if n]
for n in notes:
    print("note:", n)

cpu = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
doc = {
    "machine": {"nproc": os.cpu_count(), "cpu": cpu,
                "kernel": platform.release()},
    "references": ref,
    "rows": result_rows,
    "raw": vals,
    "errors": errors,
    "notes": notes,
}
with open(out_json, "w") as f:
    json.dump(doc, f, indent=1)
print("written", out_json)
