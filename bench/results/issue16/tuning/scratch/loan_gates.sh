# The gates of the rules since session 49 (scratch README), first written for the loans and
# used for every candidate since: a candidate against today's default (`nb-first-d05`), each
# with its own random sampling, on the tuning half. Session 50's rules number them (2a) cells
# below random, (2b) fractions, (2c) pooled against the default, (2d) savings; printed here
# as gates 1, 2, 3 and 4.
#   bash loan_gates.sh CANDIDATE FIRST-LAST "SET ..." FILE ...
# FILEs (in this folder) hold both settings' runs; FIRST-LAST spans the seeds of gates (1), (2)
# and (4); gate (3) is printed for each SET of seeds (FIRST-LAST too).
#   bash loan_gates.sh spread 10-39 "10-19 30-39" drift-delta-confirm.jsonl drift-delta-seeds30.jsonl spread-loan-seeds10-30.jsonl
#   bash loan_gates.sh aloan 40-49 "" drift-delta-seeds40.jsonl answered-loan-seeds40.jsonl
#   bash loan_gates.sh nbleaf 40-59 "40-49 50-59" drift-delta-seeds40.jsonl drift-delta-seeds50.jsonl nb-leaf-seeds40.jsonl
#   bash loan_gates.sh unmon 60-79 "60-69 70-79" drift-delta-seeds60.jsonl unmon-seeds60.jsonl
set -e
cand=$1 span=$2 sets=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
T=${TMPDIR:-/tmp}/loan-gates.jsonl
(cd "$here" && cat "$@") > "$T"
cd "$here/../../../.."   # bench/
base=nb-first-d05
summary() {  # seeds
    ../.venv/bin/python tune_summary.py --out "$T" --settings "$base,$cand" \
        --random "$base-random,$cand-random" --budgets 0.02,0.05,0.1,0.2 --seeds "$1" 2>/dev/null
}
echo "== gate 1, seeds $span"
for s in "$base" "$cand"; do
    ../.venv/bin/python tune_summary.py --out "$T" --settings "$s" --random "$s-random" \
        --budgets 0.02,0.05,0.1,0.2 --seeds "$span" --cells 2>/dev/null |
        awk -F'|' -v s="$s" 'NF==6 && $5 ~ /\*/ && $5 ~ /-[0-9]/ {n++; m=m $2 $3 $4 $5 ";"}
            END {printf "%s below random: %d: %s\n", s, n, m}'
done
echo "== gates 3 and 4, and the summary, seeds $span"
summary "$span"
for seeds in $sets; do
    echo "== gate 3, seeds $seeds"
    summary "$seeds" | grep -A10 "against $base (pts" | grep "^| $cand "
done
echo "== gate 2, seeds $span"
T=$T SPAN=$span SETTINGS="$base $cand $base-random $cand-random" ../.venv/bin/python - <<'PY'
import collections, json, os

first, last = (int(s) for s in os.environ["SPAN"].split("-"))
names = os.environ["SETTINGS"].split()
cells, top = collections.defaultdict(list), {}
for line in open(os.environ["T"]):
    r = json.loads(line)
    if r["setting"] not in names or not first <= r["seed"] <= last or r["n_events"] < 5000:
        continue
    s, f = r["setting"], r["label_fraction"] / r["budget"]
    cells[(s, r["stream"], r["budget"], r["delay"])].append(f)
    top[s] = max(top.get(s, (0,)), (f, r["stream"], r["budget"], r["delay"], r["seed"]))
for s in names:
    means = [sum(v) / len(v) for k, v in cells.items() if k[0] == s]
    print(s, "cell means", round(min(means), 4), round(max(means), 4), "largest run", top[s],
          "cells", len(means))
PY
