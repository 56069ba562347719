set -e
# Gates of the second rule for the spread loan (scratch README, session 49); run from anywhere.
cd /work/main/bench
S=results/issue16/tuning/scratch
cat $S/drift-delta-confirm.jsonl $S/drift-delta-seeds30.jsonl $S/spread-loan-seeds10-30.jsonl > ${TMPDIR:-/tmp}/g2.jsonl
echo "== gate 1 (20 seeds) and 4 (savings)"
for s in nb-first-d05 spread; do
  ../.venv/bin/python tune_summary.py --out ${TMPDIR:-/tmp}/g2.jsonl --settings $s --random $s-random --budgets 0.02,0.05,0.1,0.2 --seeds 10-39 --cells 2>/dev/null \
  | awk -F'|' -v s=$s 'NF==6 && $5 ~ /\*/ && $5 ~ /-[0-9]/ {n++; m=m $2 $3 $4 $5 ";"} END {printf "%s below random over 20 seeds: %d: %s\n", s, n, m}'
done
../.venv/bin/python tune_summary.py --out ${TMPDIR:-/tmp}/g2.jsonl --settings nb-first-d05,spread --random nb-first-d05-random,spread-random --budgets 0.02,0.05,0.1,0.2 --seeds 10-39 2>/dev/null | grep -A10 'savings ratio minus' 
for seeds in 10-19 30-39; do
  echo "== gate 3, seeds $seeds"
  ../.venv/bin/python tune_summary.py --out ${TMPDIR:-/tmp}/g2.jsonl --settings nb-first-d05,spread --random nb-first-d05-random,spread-random --budgets 0.02,0.05,0.1,0.2 --seeds $seeds 2>/dev/null | grep -A10 'against nb-first-d05 (pts' | grep '^| spread'
done
echo "== gate 2"
../.venv/bin/python - <<'PY'
import json, collections
cells = collections.defaultdict(list); top = {}
for l in open(__import__('os').environ.get('TMPDIR', '/tmp') + '/g2.jsonl'):
    r = json.loads(l)
    if r['seed'] < 10 or 20 <= r['seed'] < 30 or r['n_events'] < 5000: continue
    s = r['setting']
    if s not in ('nb-first-d05', 'spread', 'nb-first-d05-random', 'spread-random'): continue
    f = r['label_fraction'] / r['budget']
    cells[(s, r['stream'], r['budget'], r['delay'])].append(f)
    top[s] = max(top.get(s, (0,)), (f, r['stream'], r['budget'], r['delay'], r['seed']))
for s in ('nb-first-d05', 'spread', 'nb-first-d05-random', 'spread-random'):
    means = [sum(v) / len(v) for k, v in cells.items() if k[0] == s]
    print(s, 'cell means', round(min(means), 4), round(max(means), 4), 'largest run', top.get(s), 'cells', len(means))
PY
