"""River's Hoeffding-tree prediction, bit for bit, at a fraction of its cost; and, for
stream-al's learner, with one correction for scarce labels.

Predicting every event is most of what a tree costs a stream, and most of a prediction is
bookkeeping around a handful of float operations: a recursive generator walks down the
tree, and a naive-Bayes leaf looks up, per event and per class and feature, the mean and
variance of a Gaussian through three levels of objects and properties. This module walks
with a loop and reads a leaf's Gaussians once per *state* of the leaf: the leaf's total
weight identifies it, since every example a leaf learns adds to it (and to its Gaussians
at the same time). A label learned through :meth:`TreePredictor.learn` changes the terms
of its own features only, so the next state's terms are patched for those: a leaf that
has seen thousands of sparse features (words, one-hot codes) costs a label its width, not
the leaf's; and an event with few of them is scored from its own features' terms, found by
their places and summed in River's order. The arithmetic is River's own, operation for
operation, so the probabilities are equal to ``predict_proba_one``'s, not merely close.

:meth:`TreePredictor.learn` is ``learn_one`` to the same end: the tree it grows is River's,
count for count and split for split. It saves an adaptive leaf's per-label check of its
naive Bayes (read from the terms the prediction of that label left) and the layers of
calls around each Gaussian's update; split attempts are River's own code.

``TreePredictor(pooled=True)``, which the learner uses, differs from River in one place: a
class with fewer than two examples of a feature in a leaf (or one value only) is scored
with the leaf's pooled within-class variance of that feature instead of being let off the
feature's likelihood (see :class:`TreePredictor`). With 10% of the labels this is worth
about 11 points of accuracy on ImageSegments (7 classes, 19 features) and a few tenths on
the binary streams of the benchmark (``BENCHMARKS.md``).

Only ``river.tree.HoeffdingTreeClassifier`` itself is handled (subclasses predict
otherwise), and only River's own leaf types get the fast path; anything else is asked to
predict as usual.

Examples
--------
>>> from river import datasets, tree
>>> model = tree.HoeffdingTreeClassifier(grace_period=20)
>>> predictor = TreePredictor()
>>> same = 0
>>> for x, y in datasets.Phishing():
...     same += predictor.proba_and_leaf(model, x)[0] == model.predict_proba_one(x)
...     model.learn_one(x, y)
>>> same
1250

Learning through the predictor grows the same tree:

>>> ours = tree.HoeffdingTreeClassifier(grace_period=20)
>>> rivers = ours.clone()
>>> for x, y in datasets.Phishing():
...     _ = predictor.proba_and_leaf(ours, x)
...     predictor.learn(ours, x, y)
...     rivers.learn_one(x, y)
>>> ours.n_nodes == rivers.n_nodes
True
>>> predictor.proba_and_leaf(ours, x)[0] == rivers.predict_proba_one(x)
True

"""

from __future__ import annotations

import math
import numbers
import random
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import islice
from typing import Any

from river.proba.gaussian import _HALF_LOG_TAU, Gaussian
from river.stats import Var
from river.tree.nodes.branch import DTBranch, NumericBinaryBranch
from river.tree.nodes.htc_nodes import (
    LeafMajorityClass,
    LeafNaiveBayes,
    LeafNaiveBayesAdaptive,
)
from river.tree.nodes.leaf import HTLeaf
from river.tree.split_criterion import GiniSplitCriterion, InfoGainSplitCriterion
from river.tree.splitter.gaussian_splitter import GaussianSplitter
from river.tree.splitter.nominal_splitter_classif import NominalSplitterClassif
from river.tree.utils import BranchFactory

__all__ = ["TreePredictor", "writing_nothing"]

# A leaf's naive-Bayes terms: per class, the log prior (None for a class of zero weight,
# which River scores 0.0 without likelihoods) and, in River's feature order, either
# ``(feature, mu, -2 variance, 0.5 log variance)`` for a Gaussian or
# ``(feature, None, cond_log_proba or None, cond_proba)`` for any other splitter.
_LEAVES = frozenset((LeafMajorityClass, LeafNaiveBayes, LeafNaiveBayesAdaptive))

_Terms = list[tuple[Any, float | None, list[tuple[Any, Any, Any, Any]]]]
_ClassTerms = list[tuple[Any, Any, Any, Any]]
# A class's terms in a leaf: their features' places (ascending), the terms, and the
# features whose term reads the leaf's pooled variance.
_ClassState = tuple[list[int], _ClassTerms, set[Any]]


# An event with fewer features than a leaf knows over this factor is scored from its own
# features' terms rather than by a pass over all of them.
_SPARSE = 8


class _LeafTerms:
    """A leaf's naive-Bayes terms as of one state of the leaf, and what has changed since.

    A label changes the Gaussians of its own features only (its class's, and through them
    the pooled variances other classes may read): with the labels learned since known, a
    new state's terms are the old ones with those features' terms made anew, which costs
    the label's width rather than the leaf's (a leaf may know thousands of sparse features).
    Each class keeps its terms sorted by their feature's place among the splitters, which
    is River's order of summation.
    """

    __slots__ = (
        "changed",
        "classes",
        "expected",
        "labels",
        "places",
        "splitters",
        "terms",
    )

    def __init__(self, splitters: Any, total: float) -> None:
        self.splitters = splitters  # a split replaces the leaf, and with it its splitters
        # feature -> its splitter's place in the leaf's (insertion-ordered) splitters
        self.places: dict[Any, int] = {f: i for i, f in enumerate(splitters or ())}
        self.classes: dict[Any, _ClassState] = {}
        self.terms: _Terms = []
        # the features and classes of the labels learned through TreePredictor.learn
        # since this state, and the leaf's total weight after them (at this state: its
        # total): any other total means the leaf learned what this predictor did not see
        self.changed: set[Any] = set()
        self.labels: set[Any] = set()
        self.expected = total


class TreePredictor:
    """``predict_proba_one`` of a plain Hoeffding tree, and the leaf it ends in.

    One predictor may serve several trees (a model and its challenger): leaves are told
    apart by identity. It holds no state worth saving: a pickled predictor comes back
    empty, so snapshots and digests of whoever owns one do not depend on what it has seen.

    Parameters
    ----------
    pooled
        False: River's naive Bayes, bit for bit. True: one correction for scarce labels.
        River's naive-Bayes leaf leaves a feature out of a class's score while the class
        has fewer than two examples in the leaf (or they all share one value): with no
        likelihood to pay, a class seen once outvotes the classes the leaf knows well,
        the more so the more features there are. With ``pooled``, such a class is scored
        with its own mean and the leaf's pooled within-class variance of the feature
        (``sum S_c / sum (n_c - 1)`` over the leaf's classes), and a leaf's adaptive check
        of its naive Bayes scores the same way. Everything else is River's.

    Examples
    --------
    Ten examples of ``a`` spread around 0, one of ``b`` at 10, in one leaf; at 0 River's
    naive Bayes answers ``b``, which has no likelihood to pay:

    >>> import random
    >>> from river import tree
    >>> model = tree.HoeffdingTreeClassifier(leaf_prediction="nb", grace_period=1000)
    >>> rng = random.Random(1)
    >>> for _ in range(10):
    ...     model.learn_one({f"x{i}": rng.uniform(-5, 5) for i in range(5)}, "a")
    >>> model.learn_one({f"x{i}": 10.0 for i in range(5)}, "b")
    >>> x = {f"x{i}": 0.0 for i in range(5)}
    >>> proba = model.predict_proba_one(x)
    >>> max(proba, key=proba.get)
    'b'
    >>> proba = TreePredictor(pooled=True).proba_and_leaf(model, x)[0]
    >>> max(proba, key=proba.get)
    'a'

    """

    __slots__ = ("_heaviest", "_leaves", "pooled")

    def __init__(self, pooled: bool = False) -> None:
        self.pooled = pooled
        # leaf -> its terms and what it has learned since; a leaf replaced by a split (or
        # a dropped challenger's) leaves the cache with it.
        self._leaves: weakref.WeakKeyDictionary[Any, _LeafTerms] = weakref.WeakKeyDictionary()
        # branch -> (its tree's weight seen, the place of its heaviest child, that weight):
        # see _heaviest_child.
        self._heaviest: weakref.WeakKeyDictionary[Any, tuple[float, int, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def __reduce__(self) -> tuple[type[TreePredictor], tuple[bool]]:
        return (TreePredictor, (self.pooled,))

    def proba_and_leaf(self, tree: Any, x: Mapping[Any, Any]) -> tuple[dict[Any, float], Any]:
        """The tree's class probabilities for ``x`` and the leaf ``x`` reaches (None for a
        tree without nodes)."""
        if tree._root is None:
            return {}, None
        # River's Branch.walk: a branch whose feature x lacks sends x down its heaviest child.
        node = _walk(tree._root, x, partial(self._heaviest_child, tree))[1]
        proba = dict.fromkeys(sorted(tree.classes), 0.0)
        proba.update(self._leaf_proba(node, x, tree))
        return proba, node

    def proba_many(
        self, tree: Any, xs: Sequence[Mapping[Any, Any]]
    ) -> list[tuple[dict[Any, float], Any]]:
        """:meth:`proba_and_leaf` of each of ``xs``, the tree unchanged in between: equal
        to one call each, for less. The events are routed first; then each leaf that
        predicts by naive Bayes from Gaussians scores its events together, its terms read
        once and the classes sorted once (the same operations per event, in the same
        order); any other leaf predicts each event as :meth:`proba_and_leaf` does."""
        root = tree._root
        if root is None:
            return [({}, None) for _ in xs]
        classes = sorted(tree.classes)
        heaviest = partial(self._heaviest_child, tree)
        leaves = [_walk(root, x, heaviest)[1] for x in xs]
        groups: dict[int, list[int]] = {}
        for i, leaf in enumerate(leaves):
            group = groups.get(id(leaf))
            if group is None:
                groups[id(leaf)] = group = []
            group.append(i)
        out: list[tuple[dict[Any, float], Any]] = [({}, None)] * len(xs)
        for group in groups.values():
            leaf = leaves[group[0]]
            terms = self._gaussian_terms(leaf, tree)
            if terms is None:
                for i in group:
                    proba = dict.fromkeys(classes, 0.0)
                    proba.update(self._leaf_proba(leaf, xs[i], tree))
                    out[i] = (proba, leaf)
                continue
            cached, known = self._leaves[leaf], len(leaf.splitters)
            for i in group:
                x = xs[i]
                own = self._event_terms(cached, terms, x) if _SPARSE * len(x) < known else terms
                out[i] = (_gaussian_naive_bayes(own, x, classes), leaf)
        return out

    def _gaussian_terms(self, leaf: Any, tree: Any) -> _Terms | None:
        """The leaf's naive-Bayes terms if it predicts by naive Bayes (as
        :meth:`_leaf_proba` decides), has counts and only Gaussian terms; else None."""
        kind = type(leaf)
        if leaf.splitters is None:
            return None
        if kind is LeafNaiveBayesAdaptive:
            if leaf._nb_correct_weight < leaf._mc_correct_weight:
                return None
        elif kind is not LeafNaiveBayes or leaf.total_weight < tree.nb_threshold:
            return None
        entry = self._entry(leaf)
        if entry is None:
            return None
        for _, _, terms in entry:
            for term in terms:
                if term[1] is None:  # another splitter's term: the general path
                    return None
        return entry

    def learn(self, tree: Any, x: Mapping[Any, Any], y: Any) -> None:
        """``tree.learn_one(x, y)``, to the same tree, with an adaptive leaf's check of its
        naive-Bayes prediction read from the terms :meth:`proba_and_leaf` keeps (with
        ``pooled``, that check scores the pooled way; splits and counts stay River's).

        River's adaptive leaf scores its majority class and its naive Bayes on every
        example it learns, with a deep copy and a fresh read of every Gaussian; a label is
        usually learned by the leaf that has just predicted it, in the same state, so the
        terms are at hand. The rest (statistics, splitters, split attempts) is River's own
        code, called in River's order. An example lacking a branch's feature is learned,
        as River does, by the leaf at the end of the heaviest path, without a split attempt;
        an empty tree and a new value at a multiway branch (a new leaf) are left to
        ``learn_one`` itself.
        """
        parent, node = _walk(tree._root, x, None)
        seen = tree._train_weight_seen_by_model
        grow = True
        if not isinstance(node, HTLeaf):  # no root yet, or a branch x cannot follow
            node = None if parent is None else _heaviest_leaf(parent, x)
            if node is None:
                new_child = None if parent is None else len(parent.children)
                tree.learn_one(x, y)
                if new_child is not None and self._heaviest:  # River adds a leaf there
                    self._learned_at(parent, new_child, seen)
                return
            grow = False
        leaf: Any = node  # River's leaf kinds differ in their attributes
        kind = type(leaf)
        # HoeffdingTreeClassifier.learn_one from here on, for w = 1.0.
        tree.classes.add(y)
        tree._train_weight_seen_by_model += 1.0
        if kind is LeafNaiveBayesAdaptive and leaf.splitters is not None:
            stats = leaf.stats
            if len(stats) == 0:
                leaf._mc_correct_weight += 1.0
            else:
                majority = _majority(stats)
                if max(majority, key=majority.__getitem__) == y:
                    leaf._mc_correct_weight += 1.0
            votes = self._naive_bayes(leaf, x)
            _add_classes_as_river_reads_them(leaf, x)
            if len(votes) > 0 and max(votes, key=votes.__getitem__) == y:
                leaf._nb_correct_weight += 1.0
        cached = self._current(leaf)
        if kind in _LEAVES:
            _learn_leaf(leaf, x, y, tree.nominal_attributes)
        else:
            leaf.learn_one(x, y, w=1.0, tree=tree)
        if cached is not None:
            cached.changed.update(x)
            cached.labels.add(y)
            cached.expected = sum(leaf.stats.values())
        if grow and tree._growth_allowed and leaf.is_active():
            if leaf.depth >= tree.max_depth:
                leaf.deactivate()
                tree._n_active_leaves -= 1
                tree._n_inactive_leaves += 1
            else:
                weight_seen = leaf.total_weight
                if weight_seen - leaf.last_split_attempt_at >= tree.grace_period:
                    branch = parent.branch_no(x) if isinstance(parent, DTBranch) else None
                    with _split_suggestions(leaf):
                        tree._attempt_to_split(leaf, parent, branch)
                    leaf.last_split_attempt_at = weight_seen
        if tree._train_weight_seen_by_model % tree.memory_estimate_period == 0:
            tree._estimate_model_size()
        elif grow and self._heaviest and isinstance(parent, DTBranch):
            self._learned_at(parent, parent.branch_no(x), seen)

    def _heaviest_child(self, tree: Any, branch: Any) -> Any:
        """``branch.most_common_path()[1]``, where River sends an event that lacks the
        branch's feature (or brings a value it has not seen): River's own answer, kept
        while the tree learns nothing and, through :meth:`_learned_at`, while it learns
        through :meth:`learn` below the branch. River weighs every child anew for each
        such event (each a sum of counts, a subtree's sum for a branch): a text feature's
        branch may have thousands of children."""
        seen = tree._train_weight_seen_by_model
        known = self._heaviest.get(branch)
        if known is not None and known[0] == seen:
            return branch.children[known[1]]
        place, child = branch.most_common_path()
        self._heaviest[branch] = (seen, place, child.total_weight)
        return child

    def _learned_at(self, branch: Any, place: int, seen: float) -> None:
        """Keep ``branch``'s heaviest child known after its tree, at weight seen ``seen``,
        learned one example (weight 1) in the child at ``place`` (a new child at the end,
        or one split since): only that child's weight changed. It wins with more weight
        than the heaviest (as much at an earlier place: River's max keeps the first); the
        heaviest itself only gains, unless a split made its counts anew: then it is
        weighed again."""
        known = self._heaviest.get(branch)
        if known is None:
            return
        children = branch.children
        if known[0] != seen or place >= len(children):
            del self._heaviest[branch]
            return
        _, heaviest, top = known
        weight = children[place].total_weight
        if place == heaviest:
            if not weight >= top:
                del self._heaviest[branch]
                return
            top = weight
        elif weight > top or (weight == top and place < heaviest):
            heaviest, top = place, weight
        self._heaviest[branch] = (seen + 1.0, heaviest, top)

    def _current(self, leaf: Any) -> _LeafTerms | None:
        """The leaf's cached terms if they can follow what it learns next, else None (a
        cache already behind the leaf is dropped: what changed is not known)."""
        cached = None if leaf is None else self._leaves.get(leaf)
        if cached is not None and cached.expected != sum(leaf.stats.values()):
            del self._leaves[leaf]
            return None
        return cached

    def _leaf_proba(self, leaf: Any, x: Mapping[Any, Any], tree: Any) -> dict[Any, float]:
        kind = type(leaf)
        if kind is LeafNaiveBayesAdaptive:
            if leaf.splitters is not None and leaf._nb_correct_weight >= leaf._mc_correct_weight:
                return self._naive_bayes(leaf, x)
            return _majority(leaf.stats)
        if kind is LeafNaiveBayes:
            if leaf.splitters is not None and leaf.total_weight >= tree.nb_threshold:
                return self._naive_bayes(leaf, x)
            return _majority(leaf.stats)
        if kind is LeafMajorityClass:
            return _majority(leaf.stats)
        result: dict[Any, float] = leaf.prediction(x, tree=tree)
        return result

    def _entry(self, leaf: Any) -> _Terms | None:
        """The leaf's naive-Bayes terms in its current state (None for a leaf without
        counts), read from its Gaussians once per state."""
        stats = leaf.stats
        total = sum(stats.values())
        if not stats or total == 0:
            return None
        splitters = leaf.splitters
        cached = self._leaves.get(leaf)
        if cached is not None and cached.splitters is splitters and cached.expected == total:
            if not cached.changed:
                return cached.terms
        else:  # new, or the leaf learned what this predictor did not see: all anew
            cached = self._leaves[leaf] = _LeafTerms(splitters, total)
        _update_terms(cached, stats, total, self.pooled)
        return cached.terms

    @staticmethod
    def _event_terms(cached: _LeafTerms, entry: _Terms, x: Mapping[Any, Any]) -> _Terms:
        """``entry``, the leaf's terms; for a class with many more terms than the event
        has features (a bag of words), only the terms of the event's own features, found by
        their places and kept in River's order of summation: the same sum for less."""
        places = cached.places
        many = _SPARSE * len(x)
        found = None
        own: _Terms = []
        for label, prior, terms in entry:
            if prior is not None and len(terms) > many:
                if found is None:
                    found = sorted(p for f in x if (p := places.get(f)) is not None)
                at = cached.classes[label][0]
                n = len(at)
                terms = [
                    terms[i]
                    for place in found
                    if (i := bisect_left(at, place)) < n and at[i] == place
                ]
            own.append((label, prior, terms))
        return entry if found is None else own

    def _naive_bayes(self, leaf: Any, x: Mapping[Any, Any]) -> dict[Any, float]:
        """River's ``do_naive_bayes_prediction`` with the leaf's terms read once."""
        entry = self._entry(leaf)
        if entry is None:
            return {}
        if _SPARSE * len(x) < len(leaf.splitters):
            entry = self._event_terms(self._leaves[leaf], entry, x)
        half_log_tau, no_term = _HALF_LOG_TAU, -math.inf
        votes: dict[Any, float] = {}
        for label, prior, terms in entry:
            if prior is None:
                votes[label] = 0.0
                continue
            vote = prior
            for feature, mu, a, b in terms:
                if feature not in x:
                    continue
                if mu is not None:
                    log_p = (x[feature] - mu) ** 2 / a - half_log_tau - b
                    if log_p > no_term:
                        vote += log_p
                elif a is not None:
                    log_p = a(x[feature], label)
                    if log_p > no_term:
                        vote += log_p
                else:
                    p = b(x[feature], label)
                    vote += math.log(p) if p > 0 else 0.0
            votes[label] = vote
        max_ll = max(votes.values())
        lse = max_ll + math.log(sum(math.exp(log_p - max_ll) for log_p in votes.values()))
        return {label: math.exp(vote - lse) for label, vote in votes.items()}


def _gaussian_naive_bayes(
    terms: _Terms, x: Mapping[Any, Any], classes: list[Any]
) -> dict[Any, float]:
    """``dict.fromkeys(classes, 0.0)`` updated with :meth:`TreePredictor._naive_bayes` of
    a leaf whose terms are all Gaussian: the same operations in the same order."""
    half_log_tau, no_term = _HALF_LOG_TAU, -math.inf
    votes: list[float] = []
    for _, prior, class_terms in terms:
        if prior is None:
            votes.append(0.0)
            continue
        vote = prior
        for feature, mu, a, b in class_terms:
            try:
                value = x[feature]
            except KeyError:
                continue
            log_p = (value - mu) ** 2 / a - half_log_tau - b
            if log_p > no_term:
                vote += log_p
        votes.append(vote)
    max_ll = max(votes)
    lse = max_ll + math.log(sum(math.exp(log_p - max_ll) for log_p in votes))
    labels = [label for label, _, _ in terms]
    if labels == classes:  # the usual case: the leaf knows every class, in sorted order
        return {label: math.exp(vote - lse) for label, vote in zip(labels, votes, strict=True)}
    proba = dict.fromkeys(classes, 0.0)
    proba.update({label: math.exp(vote - lse) for label, vote in zip(labels, votes, strict=True)})
    return proba


def _walk(
    node: Any, x: Mapping[Any, Any], heaviest: Callable[[Any], Any] | None
) -> tuple[Any, Any]:
    """``(parent, node)`` where ``x`` reaches a leaf from ``node``. At a branch whose
    feature ``x`` lacks: ``heaviest(branch)`` (its heaviest child), or ``(branch, None)``
    without ``heaviest``."""
    parent = None
    # Types are compared before isinstance: DTBranch is an ABC, slow to check.
    while True:
        kind = type(node)
        if kind is NumericBinaryBranch:
            try:
                value = x[node.feature]
            except KeyError:
                if heaviest is None:
                    return node, None
                node = heaviest(node)
                continue
            parent, node = node, node.children[0 if value <= node.threshold else 1]
        elif kind in _LEAVES or not isinstance(node, DTBranch):
            return parent, node
        else:
            try:
                child = node.next(x)
            except KeyError:
                if heaviest is None:
                    return node, None
                child = heaviest(node)
            parent, node = node, child


def _heaviest_leaf(branch: Any, x: Mapping[Any, Any]) -> Any:
    """The leaf River's ``learn_one`` learns ``x`` at from ``branch``, a branch ``x``
    cannot follow (its feature missing): the most traversed child, then on as ``x``
    leads, again and again. None where River grows a new leaf instead (a value a multiway
    branch has not seen)."""
    node = branch
    while not isinstance(node, HTLeaf):
        if node.max_branches() == -1 and node.feature in x:
            return None
        node = node.most_common_path()[1]
        if isinstance(node, DTBranch):
            node = node.traverse(x, until_leaf=False)
    return node


def _update_terms(
    cached: _LeafTerms, stats: Mapping[Any, float], total: float, pooled: bool
) -> None:
    """Bring ``cached`` to the leaf's current state: a new class's terms all made, every
    prior renewed, and the terms the labels learned since may have changed made anew:
    of a learned class, those of the labels' features; of any class, those of features
    first seen (a nominal splitter gives every class a term) and those reading the pooled
    variance of a feature the labels moved. No other term's inputs changed."""
    places, splitters = cached.places, cached.splitters
    first_new = len(places)
    size = len(splitters or ())
    if size > first_new:  # features first seen: River appends their splitters
        for feature in reversed(list(islice(reversed(splitters), size - first_new))):
            places[feature] = len(places)
    names = cached.changed
    dense = 2 * len(names) >= size  # most terms of a learned class change: all anew
    changed: list[tuple[Any, int]] | None = None  # (feature, place), made when needed
    pooled_variances: dict[Any, float] = {}
    classes, learned = cached.classes, cached.labels
    terms: _Terms = []
    for label, weight in stats.items():
        if weight <= 0:
            terms.append((label, None, []))
            continue
        known = classes.get(label)
        if known is None or (dense and label in learned):
            known = classes[label] = _class_terms(label, splitters, pooled, pooled_variances)
        elif label in learned or known[2] or size > first_new:
            at, class_terms, reads_pool = known
            if changed is None:
                changed = [(f, place) for f in names if (place := places.get(f)) is not None]
            if label in learned:
                todo = changed
            else:  # features first seen, and those whose term reads the pooled variance
                todo = [(f, place) for f, place in changed if place >= first_new or f in reads_pool]
            for feature, place in todo:
                term, read = _feature_term(
                    label, feature, splitters[feature], pooled, pooled_variances
                )
                if read:
                    reads_pool.add(feature)
                else:
                    reads_pool.discard(feature)
                i = bisect_left(at, place)
                if i < len(at) and at[i] == place:
                    if term is None:
                        del at[i], class_terms[i]
                    else:
                        class_terms[i] = term
                elif term is not None:
                    at.insert(i, place)
                    class_terms.insert(i, term)
        terms.append((label, math.log(weight / total), known[1]))
    cached.terms = terms
    cached.expected = total
    cached.changed = set()
    cached.labels = set()


def _class_terms(
    label: Any,
    splitters: Mapping[Any, Any] | None,
    pooled: bool,
    pooled_variances: dict[Any, float],
) -> _ClassState:
    """One class's likelihood terms, their features' places (River's order) and the
    features whose term reads the pooled variance."""
    at: list[int] = []
    terms: _ClassTerms = []
    reads_pool: set[Any] = set()
    for place, (feature, splitter) in enumerate((splitters or {}).items()):
        if type(splitter) is GaussianSplitter:  # the usual term, without a call
            gaussian = splitter._att_dist_per_class.get(label)
            if gaussian is None:
                continue
            var = gaussian._var
            n = var.mean.n
            if n > var.ddof and (variance := var._S / (n - var.ddof)) > 0.0:
                at.append(place)
                terms.append((feature, var.mean._mean, -2.0 * variance, 0.5 * math.log(variance)))
                continue
        term, read = _feature_term(label, feature, splitter, pooled, pooled_variances)
        if read:
            reads_pool.add(feature)
        if term is not None:
            at.append(place)
            terms.append(term)
    return at, terms, reads_pool


def _feature_term(
    label: Any, feature: Any, splitter: Any, pooled: bool, pooled_variances: dict[Any, float]
) -> tuple[tuple[Any, Any, Any, Any] | None, bool]:
    """A class's likelihood term of one feature (None where River has none), and whether
    it read the pooled variance (which any class's label of the feature moves)."""
    if type(splitter) is NominalSplitterClassif:
        return (feature, None, None, partial(_nominal_cond_proba, splitter)), False
    if type(splitter) is not GaussianSplitter:
        return (
            feature,
            None,
            getattr(splitter, "cond_log_proba", None),
            splitter.cond_proba,
        ), False
    gaussian = splitter._att_dist_per_class.get(label)
    if gaussian is None:
        return None, False  # River's -inf: no term
    var = gaussian._var
    n = var.mean.n
    variance = var._S / (n - var.ddof) if n > var.ddof else 0.0
    if not variance > 0.0:
        if not pooled:
            return None, False  # River: no term
        variance = pooled_variances.get(feature, -1.0)
        if variance < 0.0:
            variance = pooled_variances[feature] = _pooled_variance(splitter)
        if not variance > 0.0:
            return None, True
        return (feature, var.mean._mean, -2.0 * variance, 0.5 * math.log(variance)), True
    return (feature, var.mean._mean, -2.0 * variance, 0.5 * math.log(variance)), False


def _nominal_cond_proba(splitter: NominalSplitterClassif, value: Any, label: Any) -> float:
    """``NominalSplitterClassif.cond_proba`` without writing to the splitter.

    River reads a class's counts through a defaultdict, so its naive Bayes, scoring an
    event whose text feature the leaf has not seen with a class, adds an empty entry for
    the class. That entry orders the splitter's classes, and so the counts of the leaves a
    split makes, whose ties (the majority class) are broken by that order. Serve predicts
    every event and a replica replaying the train log predicts none: their trees differed.
    So a prediction writes nothing, and learning adds the entries as River's own learning
    does (:func:`_add_classes_as_river_reads_them`).

    >>> s = NominalSplitterClassif(); s.update("red", "a", 1.0); s.update("blue", "a", 3.0)
    >>> _nominal_cond_proba(s, "blue", "a"), _nominal_cond_proba(s, "red", "b")
    (0.75, 0.0)
    >>> list(s._att_dist_per_class)
    ['a']

    """
    counts = splitter._att_dist_per_class.get(label)
    if not counts or value not in counts:
        return 0.0
    try:
        return counts[value] / sum(counts.values())
    except ZeroDivisionError:  # weights of 0, as River answers them
        return 0.0


_RIVERS_COND_PROBA = NominalSplitterClassif.cond_proba


class _WritingNothing:
    """River's models (any tree, forest or ensemble of trees) predict inside ``with
    writing_nothing:`` without writing into their text features' counts
    (:func:`_nominal_cond_proba`): the splitter's method is swapped for the block, as the
    learner sets River's pipeline flag for a prediction (0.2 us, where a generator-made
    context manager took 1). Their learning, outside it, stays River's own.

    >>> s = NominalSplitterClassif(); s.update("red", "a", 1.0)
    >>> with writing_nothing:
    ...     s.cond_proba("red", "b")
    0.0
    >>> list(s._att_dist_per_class), s.cond_proba("red", "b"), list(s._att_dist_per_class)
    (['a'], 0.0, ['a', 'b'])

    """

    __slots__ = ("_depth",)

    def __init__(self) -> None:
        self._depth = 0

    def __enter__(self) -> None:
        self._depth += 1
        NominalSplitterClassif.cond_proba = _nominal_cond_proba  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if not self._depth:
            NominalSplitterClassif.cond_proba = _RIVERS_COND_PROBA  # type: ignore[method-assign]


writing_nothing = _WritingNothing()


def _add_classes_as_river_reads_them(leaf: Any, x: Mapping[Any, Any]) -> None:
    """The entries River's ``do_naive_bayes_prediction`` adds while an adaptive leaf learns
    ``x``: each class of weight above 0, in the leaf's order, to the counts of each text
    feature of ``x`` (see :func:`_nominal_cond_proba`)."""
    stats = leaf.stats
    if not stats or sum(stats.values()) == 0:
        return
    tables = [
        splitter._att_dist_per_class
        for feature, splitter in leaf.splitters.items()
        if feature in x and type(splitter) is NominalSplitterClassif
    ]
    for table in tables:
        for label, weight in stats.items():
            if weight > 0 and label not in table:
                table[label] = {}


def _pooled_variance(splitter: GaussianSplitter) -> float:
    """The within-class variance of a leaf's feature, pooled over its classes."""
    squares = freedom = 0.0
    for gaussian in splitter._att_dist_per_class.values():
        var = gaussian._var
        squares += var._S
        freedom += var.mean.n - var.ddof
    return squares / freedom if freedom > 0 and squares > 0 else 0.0


def _learn_leaf(leaf: Any, x: Mapping[Any, Any], y: Any, nominal: Any) -> None:
    """``HTLeaf.learn_one(leaf, x, y, w=1.0)`` for River's own leaves, with a Gaussian
    splitter's update (``GaussianSplitter.update``, then Welford's ``Var.update``) inlined:
    the same operations in the same order, so the same floats."""
    stats = leaf.stats
    try:
        stats[y] += 1.0
    except KeyError:
        stats[y] = 1.0
    splitters = leaf.splitters
    if splitters is None:
        return
    disabled = leaf._disabled_attrs
    for feature, value in x.items():
        if feature in disabled:
            continue
        try:
            splitter = splitters[feature]
        except KeyError:
            if (nominal is not None and feature in nominal) or not isinstance(
                value, numbers.Number
            ):
                splitter = leaf.new_nominal_splitter()
            else:
                splitter = _new_splitter(leaf.splitter)
            splitters[feature] = splitter
        if type(splitter) is not GaussianSplitter:
            splitter.update(value, y, 1.0)
            continue
        if value is None:
            continue
        dists = splitter._att_dist_per_class
        try:
            gaussian = dists[y]
            if value < splitter._min_per_class[y]:
                splitter._min_per_class[y] = value
            if value > splitter._max_per_class[y]:
                splitter._max_per_class[y] = value
        except KeyError:
            gaussian = _new_gaussian()
            dists[y] = gaussian
            splitter._min_per_class[y] = value
            splitter._max_per_class[y] = value
        var = gaussian._var
        mean = var.mean
        mean_old = mean._mean
        mean.n += 1.0
        mean._mean += (1.0 / mean.n) * (value - mean._mean)
        var._S += 1.0 * (value - mean_old) * (value - mean._mean)


def _new_splitter(template: Any) -> Any:
    """``template.clone()``: a Gaussian splitter is made directly (River's ``clone`` reads
    the constructor's signature each time: twenty times the cost)."""
    if type(template) is GaussianSplitter:
        return GaussianSplitter(template.n_splits)
    return template.clone()


# A new Gaussian's sampling generator starts from this state (a copy each), instead of
# from 2.5 kB read from the OS, which costs ten times the rest of a leaf's new Gaussian.
# Learning and prediction never draw from it (see learner._SnapshotPickler, which leaves
# these generators out of snapshots); sampling from it still works.
_GENERATOR_STATE = random.Random().getstate()


def _new_gaussian() -> Gaussian:
    """``Gaussian()``, its generator a copy of :data:`_GENERATOR_STATE`."""
    gaussian = Gaussian.__new__(Gaussian)
    gaussian.seed = None
    rng = random.Random.__new__(random.Random)
    rng.setstate(_GENERATOR_STATE)
    gaussian._rng = rng
    gaussian._var = Var(ddof=1)
    return gaussian


@contextmanager
def _split_suggestions(leaf: Any) -> Iterator[None]:
    """While River attempts to split ``leaf``, each of its Gaussian and nominal splitters
    suggests its best split through :func:`_gaussian_suggestion` or
    :func:`_nominal_suggestion` (the same suggestion, for less)."""
    splitters = [s for s in (leaf.splitters or {}).values() if type(s) in _SUGGESTIONS]
    for splitter in splitters:
        splitter.best_evaluated_split_suggestion = partial(_SUGGESTIONS[type(splitter)], splitter)
    try:
        yield
    finally:
        for splitter in splitters:
            del splitter.best_evaluated_split_suggestion


def _gaussian_suggestion(
    splitter: GaussianSplitter,
    criterion: Any,
    pre_split_dist: Mapping[Any, float],
    att_idx: Any,
    binary_only: bool,
) -> BranchFactory:
    """``GaussianSplitter.best_evaluated_split_suggestion``: River's arithmetic in River's
    order, with each class's Gaussian read once rather than once per candidate, and the
    Gini merit computed in place (other criteria are asked)."""
    best = BranchFactory()
    candidates = splitter._split_point_suggestions()
    if not candidates:
        return best
    mins, maxs = splitter._min_per_class, splitter._max_per_class
    classes = []
    for k, estimator in splitter._att_dist_per_class.items():
        var = estimator._var
        n = var.mean.n
        sigma = (var._S / (n - var.ddof) if n > var.ddof else 0.0) ** 0.5  # Gaussian.sigma
        classes.append((k, mins[k], maxs[k], n, var.mean._mean, sigma))
    merit_of = _binary_merit(criterion, pre_split_dist)
    for split_value in candidates:
        lhs: dict[Any, float] = {}
        rhs: dict[Any, float] = {}
        for k, low, high, n, mu, sigma in classes:
            if split_value < low:
                rhs[k] = n
            elif split_value >= high:
                lhs[k] = n
            else:
                try:  # Gaussian.cdf
                    cdf = 0.5 * (1.0 + math.erf((split_value - mu) / sigma / math.sqrt(2.0)))
                except ZeroDivisionError:
                    cdf = 0.0
                lhs[k] = cdf * n
                rhs[k] = n - lhs[k]
        merit = merit_of(lhs, rhs)
        if merit > best.merit:
            best = BranchFactory(merit, att_idx, split_value, [lhs, rhs])
    return best


# Nominal values that are equal exactly when they are the same dictionary key (NaN aside).
_PLAIN_VALUES = frozenset((str, int, float, bool))


def _nominal_suggestion(
    splitter: NominalSplitterClassif,
    criterion: Any,
    pre_split_dist: Mapping[Any, float],
    att_idx: Any,
    binary_only: bool,
) -> BranchFactory:
    """``NominalSplitterClassif.best_evaluated_split_suggestion`` in time linear in the
    feature's values: River sums the whole table of counts anew for each value's binary
    split (``value`` against the rest), which costs an attempt the square of the values
    a leaf has seen (a 700-valued feature: 0.13 s a label). Here the rest of a class is
    its total less the value's count: the same floats while every count is a whole number
    (as weights of 1 make them) and the values compare as dictionary keys do; River's own
    code otherwise. Candidates, their order and the merits are River's."""
    dists = splitter._att_dist_per_class
    totals = _whole_totals(dists)
    values = splitter._att_values
    # NaN: == is False, yet it is a dictionary key of its own.
    if totals is None or not all(type(v) in _PLAIN_VALUES and v == v for v in values):
        return NominalSplitterClassif.best_evaluated_split_suggestion(
            splitter, criterion, pre_split_dist, att_idx, binary_only
        )
    best = BranchFactory()
    if not binary_only:
        post = splitter._class_dist_from_multiway_split()
        merit = criterion.merit_of_split(pre_split_dist, post)
        best = BranchFactory(
            merit, att_idx, sorted(values), post, numerical_feature=False, multiway_split=True
        )
    merit_of = _binary_merit(criterion, pre_split_dist)
    for value in values:
        equal: dict[Any, float] = {}
        rest: dict[Any, float] = {}
        for label, counts in dists.items():
            w = counts.get(value)
            if w is None:
                if counts:
                    rest[label] = totals[label]
            else:
                equal[label] = 0.0 + w
                if len(counts) > 1:
                    rest[label] = totals[label] - w
        merit = merit_of(equal, rest)
        if merit > best.merit:
            best = BranchFactory(
                merit,
                att_idx,
                value,
                [equal, rest],
                numerical_feature=False,
                multiway_split=False,
            )
    return best


def _whole_totals(dists: Mapping[Any, Mapping[Any, float]]) -> dict[Any, float] | None:
    """Each class's total count, if every count is a whole number and no sum is rounded
    (below 2**53 in size); else None: then a total less one count is not the sum of the
    others as River adds them."""
    totals: dict[Any, float] = {}
    for label, counts in dists.items():
        total = size = 0.0
        for w in counts.values():
            if not float(w).is_integer():
                return None
            total += w
            size += abs(w)
        if size >= 2.0**53:
            return None
        totals[label] = total
    return totals


# The splitters whose suggestions _split_suggestions computes for less, and how.
_SUGGESTIONS: dict[type, Callable[..., BranchFactory]] = {
    GaussianSplitter: _gaussian_suggestion,
    NominalSplitterClassif: _nominal_suggestion,
}


def _binary_merit(
    criterion: Any, pre_split_dist: Mapping[Any, float]
) -> Callable[[dict[Any, float], dict[Any, float]], float]:
    """``criterion.merit_of_split(pre_split_dist, [lhs, rhs])`` as a function of the two
    branches' counts: the Gini and information-gain merits computed in place."""
    if type(criterion) is GiniSplitCriterion:
        return partial(_gini_merit, min_frac=criterion.min_branch_fraction)
    if type(criterion) is InfoGainSplitCriterion:
        # River computes it for every candidate: the same float each time
        pre_entropy = InfoGainSplitCriterion._compute_entropy_dict(pre_split_dist)
        return partial(_info_gain_merit, pre_entropy, min_frac=criterion.min_branch_fraction)
    return lambda lhs, rhs: criterion.merit_of_split(pre_split_dist, [lhs, rhs])


def _branch_weights(
    lhs: Mapping[Any, float], rhs: Mapping[Any, float], min_frac: float
) -> tuple[float, float, float] | None:
    """A binary split's branch weights and their total, summed as River's criteria sum
    them; None (River's merit -inf) unless each branch holds more than ``min_frac``."""
    left, right = sum(lhs.values()), sum(rhs.values())
    total = 0.0
    total += left
    total += right
    if not (total > 0 and left / total > min_frac and right / total > min_frac):
        return None
    return left, right, total


def _gini_merit(lhs: Mapping[Any, float], rhs: Mapping[Any, float], min_frac: float) -> float:
    """``GiniSplitCriterion.merit_of_split`` of a binary split, operation for operation."""
    weights = _branch_weights(lhs, rhs, min_frac)
    if weights is None:
        return -math.inf
    left, right, total = weights
    gini = 0.0
    gini += (left / total) * _gini(lhs, left)
    gini += (right / total) * _gini(rhs, right)
    return 1.0 - gini


def _info_gain_merit(
    pre_entropy: float, lhs: Mapping[Any, float], rhs: Mapping[Any, float], min_frac: float
) -> float:
    """``InfoGainSplitCriterion.merit_of_split`` of a binary split, operation for operation,
    the entropy before the split given."""
    weights = _branch_weights(lhs, rhs, min_frac)
    if weights is None:
        return -math.inf
    left, right, total = weights
    entropy = 0.0
    entropy += left * _entropy(lhs)
    entropy += right * _entropy(rhs)
    return pre_entropy - entropy / total


def _entropy(dist: Mapping[Any, float]) -> float:
    """``InfoGainSplitCriterion._compute_entropy_dict``."""
    entropy = dis_sums = 0.0
    for d in dist.values():
        if d > 0.0:
            entropy -= d * math.log2(d)
            dis_sums += d
    return (entropy + dis_sums * math.log2(dis_sums)) / dis_sums if dis_sums > 0.0 else 0.0


def _gini(dist: Mapping[Any, float], weight: float) -> float:
    """``GiniSplitCriterion.compute_gini``."""
    gini = 1.0
    if weight != 0.0:
        for value in dist.values():
            share = value / weight
            gini -= share * share
    return gini


def _majority(stats: Mapping[Any, float]) -> dict[Any, float]:
    """River's ``normalize_values_in_dict(stats, inplace=False)`` without the deep copy."""
    factor = sum(stats.values())
    if factor == 0 or math.isnan(factor):
        return dict(stats)
    multiplier = 1 / factor
    return {label: weight * multiplier for label, weight in stats.items()}
