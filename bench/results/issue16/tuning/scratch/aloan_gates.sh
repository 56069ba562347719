# Gates of the rule for the answered loan on seeds 40-49 (scratch README, session 49).
set -e
cd "$(dirname "$0")/../../../.."   # bench/
S=results/issue16/tuning/scratch
T=${TMPDIR:-/tmp}/aloan.jsonl
cat $S/drift-delta-seeds40.jsonl $S/answered-loan-seeds40.jsonl > $T
echo "== gate 1"
for s in nb-first-d05 aloan; do
  ../.venv/bin/python tune_summary.py --out $T --settings $s --random $s-random --budgets 0.02,0.05,0.1,0.2 --seeds 40-49 --cells 2>/dev/null \
  | awk -F'|' -v s=$s 'NF==6 && $5 ~ /\*/ && $5 ~ /-[0-9]/ {n++; m=m $2 $3 $4 $5 ";"} END {printf "%s below random: %d: %s\n", s, n, m}'
done
echo "== gates 3 and 4, and the summary"
../.venv/bin/python tune_summary.py --out $T --settings nb-first-d05,aloan --random nb-first-d05-random,aloan-random --budgets 0.02,0.05,0.1,0.2 --seeds 40-49 2>/dev/null
echo "== gate 2"
T=$T ../.venv/bin/python - <<'PY'
import json, collections, os
cells = collections.defaultdict(list); top = {}
for l in open(os.environ['T']):
    r = json.loads(l)
    if r['n_events'] < 5000: continue
    s = r['setting']; f = r['label_fraction'] / r['budget']
    cells[(s, r['stream'], r['budget'], r['delay'])].append(f)
    top[s] = max(top.get(s, (0,)), (f, r['stream'], r['budget'], r['delay'], r['seed']))
for s in sorted(top):
    means = [sum(v) / len(v) for k, v in cells.items() if k[0] == s]
    print(s, 'cell means', round(min(means), 4), round(max(means), 4), 'largest run', top[s], 'cells', len(means))
PY
