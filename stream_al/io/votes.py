"""The join rule, consensus votes included, in one table that both label stores follow.

A label is *joined* with its pending item (:meth:`~stream_al.io.base.LabelStore.join`): an
item that needs one label learns it; an item that needs k votes collects one vote per
annotator until the k-th settles it (docs/design.md, "Tiers, priorities and consensus").
:data:`RULES` is the whole decision. Each row is a condition on the facts of one join
(:class:`Ballot`), its outcome, and the effects the store performs, in order; the first
row whose condition holds decides.

:class:`~stream_al.io.memory.MemoryStore` follows the rows in Python (:func:`settle`);
:class:`~stream_al.io.redis.RedisStore`'s join script runs them as Lua generated from the
same rows (:func:`lua_script`). A store says only *how* it reads a fact and performs an
effect; *which* outcome a join has and what it does is decided here, once.

Conditions are Python expressions over the facts: ``and``, ``or``, ``not``, the six
comparisons, ``+ - * /``, numbers, strings and True.

>>> from types import SimpleNamespace
>>> second_vote = SimpleNamespace(pending=True, need=3, repeated=False, votes=2)
>>> decide(second_vote).outcome
'voted'
>>> lua_condition("repeated and waited < requeue_seconds")
'(F.repeated() and (F.waited() < F.requeue_seconds()))'

A truth value is read only from a true-or-false fact (Lua takes 0 for true, Python not):

>>> lua_condition("votes and not labeled")
Traceback (most recent call last):
...
ValueError: 'votes' is not a true-or-false fact (['escalated', 'labeled', 'pending', 'repeated'])

"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from stream_al.core.routing import queue_slot
from stream_al.io.base import JoinOutcome

__all__ = [
    "CONSENSUS_ANNOTATOR",
    "EFFECTS",
    "ESCALATION",
    "FACTS",
    "REQUEUE_SECONDS",
    "RULES",
    "UNKNOWN_ANNOTATOR",
    "Ballot",
    "Escalation",
    "Rule",
    "decide",
    "lua_condition",
    "lua_script",
    "settle",
]


@dataclass(frozen=True)
class Escalation:
    """Where an item goes when its votes do not settle it: one label of this tier decides."""

    tier: str
    priority: str
    slot: str
    votes_needed: int


ESCALATION = Escalation("expert", "high", queue_slot("expert", high=True), votes_needed=1)
"""One expert, served first (the expert tier's high band)."""

REQUEUE_SECONDS = 60.0
"""How long after an annotator's vote on an item its repeated votes put the copy back for
someone else; a repeat later than that means nobody else took a copy in all that time (the
annotator is alone in its tier) and sends the item to an expert, so that it is never stuck.
Time, not a count of repeats: a fast worker ran through any count in milliseconds while a
second annotator reconnected for a second. A minute covers a reconnection and a person's
time on one item; the labeling worker gives a copy back as long before it votes again
(:class:`~stream_al.labeling.worker.VotedCopies`), pacing its give-backs."""

CONSENSUS_ANNOTATOR = "consensus"
"""The annotator of a learned majority label (with ``votes`` and ``agreement``)."""

UNKNOWN_ANNOTATOR = "unknown"
"""Whose vote a label is when it names no annotator."""


@dataclass(frozen=True)
class Rule:
    """A row of :data:`RULES`: when ``when`` holds, the outcome is ``outcome`` and the
    store performs ``then``, in order (names of :class:`Ballot`'s effects)."""

    outcome: JoinOutcome
    when: str
    then: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule("duplicate", "not pending and labeled"),
    Rule("orphaned", "not pending"),
    # One label decides: an item that needs one, or one that went to an expert.
    Rule("late", f"need <= 1 and escalated and label_tier != '{ESCALATION.tier}'"),
    Rule("learned", "need <= 1", ("learn", "ack")),
    # One vote per annotator: a repeat puts the copy back for someone else, until the vote
    # is requeue_seconds old; a repeat after that: nobody else came, one expert decides.
    Rule("repeat", "repeated and waited < requeue_seconds", ("requeue",)),
    Rule("escalated", "repeated", ("ack", "escalate")),
    Rule("voted", "votes < need", ("record", "ack")),
    # The k-th vote settles: the most frequent label, untied, with enough agreement ...
    Rule(
        "learned",
        "top > runner_up and top / votes >= min_agreement",
        ("record", "ack", "agree", "learn_consensus"),
    ),
    # ... is learned; a tie, or too little agreement, sends the item to one expert.
    Rule("escalated", "True", ("record", "ack", "escalate")),
)
"""The join rule: the first row whose condition holds decides."""


class Ballot(Protocol):
    """One join as the rules see it: facts (each read when a condition first needs it)
    and effects (performed in the order a rule names them)."""

    @property
    def pending(self) -> bool:
        """The item waits for its label (queued, not expired)."""
        ...

    @property
    def labeled(self) -> bool:
        """The item was labeled and learned already."""
        ...

    @property
    def need(self) -> int:
        """Votes the item needs (1: the first label decides)."""
        ...

    @property
    def escalated(self) -> bool:
        """The item's votes sent it to an expert."""
        ...

    @property
    def label_tier(self) -> str | None:
        """The tier of whoever gave this label (None: not said)."""
        ...

    @property
    def repeated(self) -> bool:
        """This annotator voted on the item already."""
        ...

    @property
    def waited(self) -> float:
        """Seconds from this annotator's earlier vote on the item to this one, by their
        ``ts`` (infinite if either has none). Read only for a repeated vote."""
        ...

    @property
    def requeue_seconds(self) -> float:
        """How long repeated votes put the copy back (the store's; :data:`REQUEUE_SECONDS`)."""
        ...

    @property
    def votes(self) -> int:
        """The item's votes, this one included (unless it repeats one)."""
        ...

    @property
    def top(self) -> int:
        """Votes for the most frequent label."""
        ...

    @property
    def runner_up(self) -> int:
        """Votes for the next most frequent label (0: the votes agree)."""
        ...

    @property
    def min_agreement(self) -> float:
        """The share of the votes the majority needs (the store's setting)."""
        ...

    def learn(self) -> None:
        """Learn the label as given: append it to the train log, remember the item as
        labeled, forget it as pending."""

    def ack(self) -> None:
        """Acknowledge the label: it was used."""

    def record(self) -> None:
        """Keep this annotator's vote."""

    def requeue(self) -> None:
        """Queue the item again in its slot, for someone else (the repeat used its copy)."""

    def agree(self) -> None:
        """Count, per voter, a settled vote and whether it was the majority's."""

    def learn_consensus(self) -> None:
        """Forget the votes and learn one of the majority's votes as annotator
        :data:`CONSENSUS_ANNOTATOR`, with ``votes`` (annotator -> label) and ``agreement``
        (the majority's share)."""

    def escalate(self) -> None:
        """Queue the item once as :data:`ESCALATION` says, with ``escalated`` (annotator ->
        label of the votes so far); the pending record says so too; forget the votes."""


# The names are read off the protocol, so that it stays the one list of them.
_MEMBERS = {name: value for name, value in vars(Ballot).items() if not name.startswith("_")}
FACTS = tuple(name for name, value in _MEMBERS.items() if isinstance(value, property))
EFFECTS = tuple(name for name, value in _MEMBERS.items() if inspect.isfunction(value))
_TRUTHS = {name for name in FACTS if _MEMBERS[name].fget.__annotations__["return"] == "bool"}

# The language's operators, as Lua writes them.
_COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "~=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}

_Test = Callable[[Ballot], Any]


def _parse(condition: str) -> ast.expr:
    tree = ast.parse(condition, mode="eval").body
    _check_truth(tree)
    return tree


def _check_truth(node: ast.expr) -> None:
    """Only booleans where a truth value is read: Lua and Python disagree on others (0)."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_truth(value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_truth(node.operand)
    elif isinstance(node, ast.Name) and node.id not in _TRUTHS:
        raise ValueError(f"{node.id!r} is not a true-or-false fact ({sorted(_TRUTHS)})")
    elif isinstance(node, ast.Constant) and node.value is not True:
        raise ValueError(f"{node.value!r} as a condition: only True")


class _ReadFacts(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.expr:
        return ast.Attribute(ast.Name("ballot", ast.Load()), node.id, ast.Load())


def _python(node: ast.expr) -> _Test:
    """``node`` as ``lambda ballot: ...``, each fact read as ``ballot.fact``, lazily."""
    body = ast.unparse(_ReadFacts().visit(node))
    test: _Test = eval(f"lambda ballot: {body}", {"__builtins__": {}})
    return test


def _lua(node: ast.expr) -> str:
    """``node`` as a Lua expression; a fact ``name`` is the call ``F.name()``."""
    match node:
        case ast.Constant(value=bool() as value):
            return "true" if value else "false"
        case ast.Constant(value=str() | int() | float() as value):
            return json.dumps(value)
        case ast.Name(id=name) if name in FACTS:
            return f"F.{name}()"
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return f"not {_lua(operand)}"
        case ast.BoolOp(op=ast.And() | ast.Or() as op, values=values):
            joiner = " and " if isinstance(op, ast.And) else " or "
            return "(" + joiner.join(_lua(value) for value in values) + ")"
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITHMETIC:
            return f"({_lua(left)} {_ARITHMETIC[type(op)]} {_lua(right)})"
        case ast.Compare(left=left, ops=[op], comparators=[right]) if type(op) in _COMPARISONS:
            return f"({_lua(left)} {_COMPARISONS[type(op)]} {_lua(right)})"
    raise ValueError(f"not in the rules' language (facts: {FACTS}): {ast.unparse(node)}")


def _compile(rules: tuple[Rule, ...]) -> tuple[tuple[Rule, _Test], ...]:
    unknown = {e for rule in rules for e in rule.then} - set(EFFECTS)
    if unknown:
        raise ValueError(f"unknown effects {sorted(unknown)}; the effects are {EFFECTS}")
    if rules[-1].when != "True":
        raise ValueError("the last rule must hold always (when='True')")
    for rule in rules:
        _lua(_parse(rule.when))  # every node in the language, or a ValueError
    return tuple((rule, _python(_parse(rule.when))) for rule in rules)


_COMPILED = _compile(RULES)


def decide(ballot: Ballot) -> Rule:
    """The first rule of :data:`RULES` whose condition holds for ``ballot``."""
    return next(rule for rule, holds in _COMPILED if holds(ballot))


def settle(ballot: Ballot) -> JoinOutcome:
    """Decide, perform the rule's effects on ``ballot`` in order, return the outcome."""
    rule = decide(ballot)
    for effect in rule.then:
        getattr(ballot, effect)()
    return rule.outcome


def lua_condition(condition: str) -> str:
    """A rule's condition as Lua (see the module's example)."""
    return _lua(_parse(condition))


def _lua_constants() -> str:
    e = ESCALATION
    values = {
        "CONSENSUS_ANNOTATOR": json.dumps(CONSENSUS_ANNOTATOR),
        "UNKNOWN_ANNOTATOR": json.dumps(UNKNOWN_ANNOTATOR),
        "ESCALATION": (
            f"{{tier = {json.dumps(e.tier)}, priority = {json.dumps(e.priority)}, "
            f"slot = {json.dumps(e.slot)}, votes_needed = {e.votes_needed}}}"
        ),
    }
    return "\n".join(f"local {name} = {value}" for name, value in values.items())


def lua_script(mechanics: str) -> str:
    """A join script: this module's constants, then ``mechanics``, then :data:`RULES` as
    a chain of ``if`` statements in a function, each returning ``{outcome, log_id}``, and
    the script returns ``answer(reply)`` of the chain's reply.

    ``mechanics`` is the store's Lua: it defines ``function F.name()`` for each fact of
    :data:`FACTS` and ``function E.name()`` for each effect of :data:`EFFECTS` (on tables
    ``F`` and ``E`` it declares), keeps the train-log id of a learned label in the local
    ``log_id``, and defines ``local function answer(reply)``, which returns the reply (the
    Redis store records it there, so that the join asked again answers the same).
    """
    needed = [f"function F.{name}()" for name in FACTS] + [f"function E.{e}()" for e in EFFECTS]
    needed.append("local function answer(reply)")
    missing = [definition for definition in needed if definition not in mechanics]
    if missing:
        raise ValueError(f"the join script's mechanics lack {missing}")
    lines = ["-- Generated by stream_al.io.votes: its constants, the mechanics, its RULES.", ""]
    lines += [_lua_constants(), mechanics.strip(), "", "-- RULES, the first that holds decides."]
    lines.append("local function decide()")
    for rule in RULES:
        effects = "".join(f"E.{effect}() " for effect in rule.then)
        lines.append(
            f"  if {lua_condition(rule.when)} then {effects}return {{'{rule.outcome}', log_id}} end"
        )
    lines += ["end", "return answer(decide())"]
    return "\n".join(lines) + "\n"
