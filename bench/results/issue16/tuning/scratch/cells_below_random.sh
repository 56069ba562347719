# Cells significantly below random sampling on the same learner (of 120: 15 tuning-half
# streams x 4 budgets x 2 delays), per setting and seed set, single runs of recorded
# streams (one deterministic run against random sampling's ten seeds) apart from the rest.
# Run from bench/: bash results/issue16/tuning/scratch/cells_below_random.sh (session 49).
# setting random files... seeds
run() { s=$1; r=$2; seeds=$3; shift 3; cat "$@" > "${TMPDIR:-/tmp}/cells.jsonl"
  ../.venv/bin/python tune_summary.py --out "${TMPDIR:-/tmp}/cells.jsonl" --settings $s --random $r --budgets 0.02,0.05,0.1,0.2 --seeds $seeds --cells 2>/dev/null \
  | awk -F'|' -v s=$s -v seeds=$seeds 'NF==6 && $5 ~ /\*/ && $5 ~ /-[0-9]/ {n++; if ($5 ~ /1 run/) one++; else {multi++; m=m $2 $3 $4 ";"}} END {printf "%-16s seeds %-6s below random: %d (single runs %d, multi-seed %d: %s)\n", s, seeds, n, one, multi, m}'; }
T=results/issue16/tuning; S=$T/scratch
run nb-first nb-first-random 0-9 $T/nb-first.jsonl
run nb-first-rvu nb-first-random 0-9 $T/nb-first.jsonl
run nb-first-bandit nb-first-random 0-9 $T/nb-first.jsonl
run nb-first-pending nb-first-random 0-9 $T/nb-first.jsonl
run nb-first-d05 nb-first-d05-random 0-9 $S/drift-delta.jsonl
run nb-first-d05 nb-first-d05-random 10-19 $S/drift-delta-confirm.jsonl
run nb-first-d05 nb-first-d05-random 20-29 $S/drift-delta-seeds20.jsonl
run nb-first-d05 nb-first-d05-random 30-39 $S/drift-delta-seeds30.jsonl
run nb-first-d05 nb-first-d05-random 40-49 $S/drift-delta-seeds40.jsonl
run nb-first-d05 nb-first-d05-random 50-59 $S/drift-delta-seeds50.jsonl
run nb-first-d05 nb-first-d05-random 60-69 $S/drift-delta-seeds60.jsonl
run nb-first-d05 nb-first-d05-random 70-79 $S/drift-delta-seeds60.jsonl
run nb-first nb-first-random 10-19 $S/drift-delta-confirm.jsonl
run nb-first nb-first-random 20-29 $S/drift-delta-seeds20.jsonl
run nb-first nb-first-random 30-39 $S/drift-delta-seeds30.jsonl
run nb-first-d01 nb-first-d01-random 0-9 $S/drift-delta.jsonl
run cc cc-random 0-9 $S/candidate-challengers.jsonl
run cc cc-random 20-29 $S/candidate-challengers-seeds20.jsonl
run loan2 loan2-random 0-9 $S/boost-loan.jsonl
run loan loan-random 0-9 $S/start-loan.jsonl
run rz1 rz1-random 30-39 $S/fair-race-z1-seeds30.jsonl
run spread spread-random 0-9 $S/spread-loan.jsonl
run spread spread-random 20-29 $S/spread-loan-seeds20.jsonl
run aloan aloan-random 40-49 $S/answered-loan-seeds40.jsonl
run nbleaf nbleaf-random 40-49 $S/nb-leaf-seeds40.jsonl
run nbleaf nbleaf-random 50-59 $S/nb-leaf-seeds40.jsonl
run unmon unmon-random 60-69 $S/unmon-seeds60.jsonl
run unmon unmon-random 70-79 $S/unmon-seeds60.jsonl
