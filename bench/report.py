#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn bench/run's results.tsv into tables on stdout and results.json.

usage: report.py RESULTS.tsv NOTES.txt OUT.json "TERMINATORS" IDLE_N IDLE_BIG
The first table shows every terminator per row, then ktlsd divided by the
best of the others (the anchors): above 1 is better for rates, below 1 is
better for costs. Then ktlsd against itself: kTLS against userspace mode
in the VM (rows vm-ktls, vm-userspace) and a steered port against a plain
listener (rows steer, plain), each with the ratio of the two. Last, good
clients during a handshake flood (rows flood-one, flood-fifty, flood-rss),
and what a signature through the key holder costs (row signing).
"""
import json
import os
import platform
import sys

tsv, notes_path, out_json, terms, idle_n, idle_big = sys.argv[1:7]
terms = terms.split()
# A metric measured in several rounds (bench/run runs the terminators one
# after the other in each round) is kept whole in "rounds" and shown as its
# median round; errors are summed. The ratio column is the median over the
# rounds of ktlsd against the best anchor of the same round: other work on
# a shared machine moves from minute to minute, and within a round it
# weighs on every terminator alike.


def median(xs):
    ys = sorted(xs)
    return (ys[(len(ys) - 1) // 2] + ys[len(ys) // 2]) / 2 if ys else None


rounds = {}
with open(tsv) as f:
    for line in f:
        name, metric, value = line.rstrip("\n").split("\t")
        try:
            rounds.setdefault(name, {}).setdefault(metric, []).append(float(value))
        except ValueError:
            pass
vals = {}
for name, metrics in rounds.items():
    for metric, xs in metrics.items():
        vals.setdefault(name, {})[metric] = \
            sum(xs) if metric.endswith("_errors") else median(xs)
ref = vals.get("openssl", {})
aes = ref.get("aes128gcm_mbps")
rate = vals.get(terms[0], {}).get("latency_rate", 0) if terms else 0

# (label, metric, higher_is_better, format); None: a share, no ratio
ROWS = [
    ("full handshakes/s (saturation)", "handshakes_per_s", True, "%.0f"),
    ("  CPU-us per handshake", "handshakes_cpu_us", False, "%.0f"),
    ("  k instructions per handshake", "hs_instr_k", False, "%.0f"),
    ("    % of them in OpenSSL", "hs_instr_openssl_pct", None, "%.0f"),
    ("    % in libc", "hs_instr_libc_pct", None, "%.0f"),
    ("    % in the terminator itself", "hs_instr_own_pct", None, "%.1f"),
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
    ("KiB per idle session (%s)" % idle_big, "idle_big_kib_per_session", False, "%.1f"),
]
for t in terms:
    v = vals.get(t, {})
    for b in ("bulk1", "bulk8"):
        if aes and b + "_mbps" in v:
            v[b + "_frac"] = v[b + "_mbps"] / aes

present = [t for t in terms if t in vals]
anchors = [t for t in present if t != "ktlsd"]
width = 32
result_rows = []
if present:
    print()
    print("%-*s" % (width, "") + "".join("%10s" % t for t in present) +
          "%14s" % "ktlsd/best")
for label, metric, higher, fmt in ROWS if present else []:
    cells, row = [], {"row": label.strip(), "metric": metric,
                      "higher_is_better": higher, "values": {}}
    for t in present:
        x = vals[t].get(metric)
        row["values"][t] = x
        cells.append("%10s" % (fmt % x if x is not None else "-"))
    ratio = None
    k = vals.get("ktlsd", {}).get(metric)
    others = [vals[t][metric] for t in anchors if metric in vals[t]]
    if k is not None and others and higher is not None:
        best = max(others) if higher else min(others)
        ratio = k / best if best else None
    # Round by round where every terminator has the round (bulk_frac rows
    # follow their MB/s rows).
    base = metric.replace("_frac", "_mbps")
    kr = rounds.get("ktlsd", {}).get(base, [])
    ar = [rounds[t].get(base, []) for t in anchors if t in rounds]
    if len(kr) > 1 and ar and all(len(a) == len(kr) for a in ar) and \
            higher is not None:
        per_round = []
        for i, kv in enumerate(kr):
            b = (max if higher else min)(a[i] for a in ar)
            if b:
                per_round.append(kv / b)
        ratio = median(per_round) if per_round else ratio
        row["ktlsd_over_best_anchor_by_round"] = per_round
    row["ktlsd_over_best_anchor"] = ratio
    result_rows.append(row)
    print("%-*s" % (width, label) + "".join(cells) +
          "%14s" % ("%.2f" % ratio if ratio is not None else "-"))

def side_table(title, left, right, rows, json_rows):
    """Two kinds of the same ktlsd side by side, with their ratio. rows:
    (label, metric, format, show_values, target) where target is a
    (text, predicate on the ratio or on the left value) pair or None."""
    a, b = vals.get(left, {}), vals.get(right, {})
    if not a and not b:
        return
    cols = (left.split("-")[-1], right.split("-")[-1])
    print()
    print(title)
    print("%-*s%11s%11s%16s  %s" % (width, "", cols[0], cols[1],
                                     "%s/%s" % cols, "target"))
    for label, metric, fmt, show, target in rows:
        x, y = a.get(metric), b.get(metric)
        ratio = x / y if x is not None and y else None
        met = None
        tcell = ""
        if target:
            ttext, on_ratio, pred = target
            subject = ratio if on_ratio else x
            met = pred(subject) if subject is not None else None
            tcell = "%s %s" % (ttext, {True: "met", False: "MISSED",
                                       None: "-"}[met])
        cell = lambda v: "%11s" % (fmt % v if v is not None and show else "-")
        print("%-*s%s%s%16s  %s" % (width, label, cell(x), cell(y),
              "%.2f" % ratio if ratio is not None else "-", tcell))
        json_rows.append({"row": label.strip(), "metric": metric,
                          left: x if show else None,
                          right: y if show else None, "ratio": ratio,
                          "target": target[0] if target else None,
                          "target_met": met})


# kTLS against userspace in the VM: timings under TCG are not hardware
# figures, so CPU time is shown as a ratio only; counts and memory are.
vm_rows, steer_rows = [], []
side_table("kTLS vs userspace mode, same ktlsd, 6.12 VM (QEMU/TCG):",
           "vm-ktls", "vm-userspace", [
    ("  CPU-s per GiB download (ratio)", "bulk_cpu_s_per_gib", "%.2f", False,
     ("ratio <= 0.7", True, lambda r: r <= 0.7)),
    ("  syscalls per MiB", "syscalls_per_mib", "%.0f", True, None),
    ("  bytes copied via userspace/byte", "copied_per_byte", "%.4f", True,
     ("kTLS == 0", False, lambda v: v < 0.0005)),
    ("  bytes spliced in kernel/byte", "spliced_per_byte", "%.4f", True, None),
    ("  /proc io rchar+wchar per byte", "bulk_rwchar_per_byte", "%.4f", True,
     None),
    ("  KiB anon Pss per idle session", "idle_kib_per_session", "%.1f",
     True, ("kTLS <= 4", False, lambda v: v <= 4)),
    ("  kTLS contexts per download", "ktls_contexts_per_download", "%.0f",
     True, None),
], vm_rows)
side_table("sk_lookup steering vs a plain listener (ktlsd, own netns):",
           "steer", "plain", [
    ("  handshake+req/resp per s", "setup_per_s", "%.0f", True, None),
    ("  ktlsd CPU-us per connection", "setup_cpu_us", "%.0f", True, None),
    ("  client CPU-us per connection", "setup_client_cpu_us", "%.0f", True,
     None),
    ("  machine CPU-us per connection", "setup_machine_cpu_us", "%.0f", True,
     None),
], steer_rows)

def flood_table(json_rows):
    """bench/flood: good clients during a flood from one source and from
    50, then the memory a pending connection costs (row flood-rss)."""
    one, fifty, mem = (vals.get(k, {}) for k in
                       ("flood-one", "flood-fifty", "flood-rss"))
    if not one and not fifty and not mem:
        return
    print()
    print("Handshake flood: 10,000 silent + 1,000 half-ClientHello connections,")
    print("ktlsd workers = 2, handshake-timeout = 5, max-handshakes = 1024 (own netns):")
    print("%-*s%11s%11s  %s" % (width, "", "1 source", "50 sources", "target"))
    rows = [
        ("  good clients served (%)", "good_served_pct", "%.1f",
         (">= 99", lambda v: v >= 99)),
        ("  good client p99 ms (hs+echo)", "good_p99_ms", "%.0f",
         ("<= 1000", lambda v: v <= 1000)),
        ("  good client p50 ms (hs+echo)", "good_p50_ms", "%.0f", None),
        ("  refused: per source", "refused_per_source", "%.0f", None),
        ("  refused: max-handshakes", "refused_handshake_cap", "%.0f", None),
        ("  evicted before a ClientHello", "evicted_no_hello", "%.0f", None),
        ("  hello timeouts", "hello_timeouts", "%.0f", None),
        ("  handshake timeouts", "handshake_timeouts", "%.0f", None),
        ("  flood connections opened", "flood_connections", "%.0f", None),
        ("  ktlsd CPU seconds", "ktlsd_cpu_s", "%.1f", None),
    ]
    mrows = [
        ("  KiB per pending silent conn.", "kib_per_silent", "%.2f",
         ("<= 4", lambda v: v <= 4)),
        ("  KiB per stalled half hello", "kib_per_half_hello", "%.2f", None),
        ("  RSS KiB before the flood", "baseline_rss_kib", "%.0f", None),
        ("  RSS KiB after it", "after_rss_kib", "%.0f", None),
        ("  descriptors before the flood", "baseline_fds", "%.0f", None),
        ("  descriptors after it", "after_fds", "%.0f", None),
    ]
    # Flood rows show both layouts; memory rows (flood-rss) one value.
    for table, cols in ((rows, (one, fifty)), (mrows, (mem,))):
        for label, metric, fmt, target in table:
            xs = [c.get(metric) for c in cols]
            met = None
            if target and None not in xs:
                met = all(target[1](x) for x in xs)
            cells = "".join("%11s" % (fmt % x if x is not None else "-")
                            for x in xs) + " " * 11 * (2 - len(xs))
            print("%-*s%s  %s" % (width, label, cells,
                  "%s %s" % (target[0], {True: "met", False: "MISSED",
                                         None: "-"}[met]) if target else ""))
            row = {"row": label.strip(), "metric": metric,
                   "target": target[0] if target else None, "target_met": met}
            if len(cols) == 2:
                row.update(one_source=xs[0], fifty_sources=xs[1])
            else:
                row["value"] = xs[0]
            json_rows.append(row)


flood_rows = []
flood_table(flood_rows)


def signing_table(json_rows):
    """bench/signing: an ECDSA P-256 signature through the key holder
    against one made in process, and the bare round trip between two
    processes on this machine (all on the terminators' CPU)."""
    v = vals.get("signing", {})
    if not v:
        return
    print()
    print("One ECDSA P-256 signature (init + sign), CPU-us, bench/signing:")
    for label, metric in (("  in process (before the split)", "inproc_us"),
                          ("  key holder, a round trip each", "keyholder_us"),
                          ("    overhead", "overhead_us"),
                          ("    of which a bare pipe round trip", "pipe_rt_us"),
                          ("  key holder, 16 per batch", "batched_us"),
                          ("    overhead", "batched_overhead_us")):
        x = v.get(metric)
        print("%-*s%10s" % (width, label, "%.1f" % x if x is not None else "-"))
        json_rows.append({"row": label.strip(), "metric": metric, "value": x})


signing_rows = []
signing_table(signing_rows)


def steer_by_round():
    """bench/steer's runs paired by round (one steered and one plain run
    each, back to back): a busy steered port must keep up in every round,
    not only in the median one."""
    st, pl = rounds.get("steer", {}), rounds.get("plain", {})
    n = min(len(st.get("setup_per_s", [])), len(pl.get("setup_per_s", [])))
    out = []
    if n < 2:
        return out
    print()
    print("steered/plain by round (targets: connections/s >= 0.95, "
          "ktlsd CPU per connection <= 1.05, 0 errors):")
    print("%-7s%9s%9s%7s%11s%11s%7s%8s%11s  %s" % (
        "round", "steer/s", "plain/s", "ratio", "CPU-us st", "CPU-us pl",
        "ratio", "errors", "TIME_WAIT", "targets"))
    for i in range(n):
        # nan: a run that completed nothing has no cost per connection.
        get = lambda d, m: next((v for v in (d.get(m) or [])[i:i + 1]
                                 if v == v), None)
        rate = st["setup_per_s"][i] / pl["setup_per_s"][i] \
            if pl["setup_per_s"][i] else 0.0
        cs, cp = get(st, "setup_cpu_us"), get(pl, "setup_cpu_us")
        cpu = cs / cp if cs and cp else None
        errs = (get(st, "setup_errors") or 0) + (get(pl, "setup_errors") or 0)
        tw = get(st, "setup_time_wait")
        met = rate >= 0.95 and cpu is not None and cpu <= 1.05 and errs == 0
        num = lambda v, f: f % v if v is not None else "-"
        print("%-7d%9.0f%9.0f%7.2f%11s%11s%7s%8d%11s  %s" % (
            i + 1, st["setup_per_s"][i], pl["setup_per_s"][i], rate,
            num(cs, "%.0f"), num(cp, "%.0f"), num(cpu, "%.2f"), errs,
            "%d" % tw if tw is not None else "-", "met" if met else "MISSED"))
        out.append({"round": i + 1, "steer_per_s": st["setup_per_s"][i],
                    "plain_per_s": pl["setup_per_s"][i], "ratio": rate,
                    "steer_cpu_us": cs, "plain_cpu_us": cp, "cpu_ratio": cpu,
                    "errors": errs, "steer_time_wait": tw,
                    "targets_met": met})
    return out


steer_round_rows = steer_by_round()
if ref:
    print()
    print("references on one core: AES-128-GCM %s MB/s (16 KiB blocks), "
          "ECDSA P-256 %s sign/s, X25519 %s op/s" %
          (ref.get("aes128gcm_mbps"), ref.get("ecdsap256_sign_per_s"),
           ref.get("x25519_per_s")))
errors = {t: {m: vals[t][m] for m in vals[t] if m.endswith("_errors")
              and vals[t][m]} for t in vals}
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
    "vm_ktls_vs_userspace": vm_rows,
    "steer_vs_plain": steer_rows,
    "flood": flood_rows,
    "signing": signing_rows,
    "steer_by_round": steer_round_rows,
    "raw": vals,
    "rounds": {n: {m: xs for m, xs in ms.items() if len(xs) > 1}
               for n, ms in rounds.items()},
    "errors": errors,
    "notes": notes,
}
with open(out_json, "w") as f:
    json.dump(doc, f, indent=1)
print("written", out_json)
