# agree.py REF.json GOT.json — exit 0 when every per-trial metric of GOT is
# within the conformance tolerances (doc/conformance.md §1) of REF's: relative
# 1e-3 or absolute 1e-7, and top-1 / top-k recall within 0.25 (one query of
# 8 may flip on a near-tie). Each file holds one run object or a list of them
# (kvq run / kvq sweep --json), paired in order.
import json, sys

def runs(path):
    x = json.load(open(path))
    return x if isinstance(x, list) else [x]

ref, got = runs(sys.argv[1]), runs(sys.argv[2])
assert len(ref) == len(got) > 0, (len(ref), len(got))
for a, b in zip(ref, got):
    assert a["config"]["scheme"] == b["config"]["scheme"]
    assert set(a["metrics"]) == set(b["metrics"]) and len(a["metrics"]) == 19
    for m, va in a["metrics"].items():
        for x, y in zip(va["per_trial"], b["metrics"][m]["per_trial"]):
            if m in ("top1", "topk_recall"):
                assert abs(x - y) <= 0.25, (m, x, y)
            else:
                assert abs(x - y) <= 1e-7 or abs(x - y) <= 1e-3 * abs(x), (m, x, y)
print("# every per-trial metric within relative 1e-3 or absolute 1e-7 (recalls: 0.25)")
