"""The Redis side: label queue, pending items, label stream, train log, checkpoints.

Keys: :mod:`stream_al.io.redis_keys`.

Enqueue and join are Lua scripts: each is one atomic step, so a crash never leaves a
pending item without its queue entry or a label half joined. The join script's decisions
(which outcome, what it does) are generated from :data:`stream_al.io.votes.RULES`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from redis.exceptions import NoPermissionError, NoScriptError

from stream_al.config import Settings
from stream_al.errors import (
    ConfigurationError,
    ReplicaIdTaken,
    StoreReset,
    StoreRolledBack,
    StoreUnavailable,
)
from stream_al.io import votes
from stream_al.io.base import (
    TIERS,
    Checkpoint,
    EnqueueRequest,
    Entry,
    Joined,
    LeaseHolder,
    LeaseTaken,
    ReplicaSeen,
    ReplicaState,
    TrainLogEntry,
    Unreadable,
    WrongType,
    agreement_ratios,
    checked_train_log_id,
    item_age,
    lease_holder_name,
    newest_of,
    stream_position,
    tier_slots,
    translate_errors,
)
from stream_al.io.redis_faults import (
    credentials_refused,
    label_entry,
    lenient,
    server_problem,
    server_states,
)
from stream_al.io.redis_keys import RedisKeys

__all__ = ["LABELS_GROUP", "WORKERS_GROUP", "RedisKeys", "RedisStore", "connect", "store_for"]

log = logging.getLogger("stream_al.redis")

WORKERS_GROUP = "workers"
LABELS_GROUP = "serve"
DEAD_LETTERS_MAXLEN = 100_000

# How often serve's label reads also check that Redis still holds its state (one GET).
STATE_CHECK_SECONDS = 1.0

# A train-log entry's dead letter, written once whichever replica (or replay) skips it first.
_SKIP = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'dead_letter', ARGV[2])
return 1
"""


def _run_script(
    client: Any, script: Any, calls: Sequence[tuple[list[str], list[str | int]]]
) -> list[Any]:
    """Run ``script`` once per ``(keys, args)`` in one pipeline; its replies, in order.

    ``EVALSHA`` directly: a redis-py script object in a pipeline first asks ``SCRIPT
    EXISTS``, a round trip per batch on serve's hot path. A call answered ``NOSCRIPT``
    (Redis restarted and forgot its scripts) did not run, so it is loaded and run again;
    any other error is raised as ``pipeline.execute()`` would.
    """
    pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    replies: list[Any] = pipe.execute(raise_on_error=False)
    missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
    if missing:
        script.sha = client.script_load(script.script)
        pipe = client.pipeline(transaction=False)
        for i in missing:
            keys, args = calls[i]
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        for i, reply in zip(missing, pipe.execute(raise_on_error=False), strict=True):
            replies[i] = reply
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


# A replica's state and its place in the list, by Redis's clock (the one every replica and
# `stream-al status` share); replicas silent for ARGV[4] seconds leave the list.
_PUT_REPLICA_STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
return 1
"""

# A replica id's lease (KEYS[1]): taken where absent, kept alive where ARGV[1] holds it
# (ARGV[2]: its TTL, ms); else nothing changes and the holder is answered with its TTL
# left. One step: a GET then a SET from the client could overwrite a lease another
# process took in between.
_TAKE_LEASE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return {current, redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if current then return 1 end
return 0
"""

# Deletes a replica id's lease only if ARGV[1] holds it: a process that lost it (paused
# past its TTL, another took it) must not delete the new holder's at its exit.
_DROP_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# A replica's checkpoint (KEYS: its hash, the checkpoint index, the replica id's lease;
# ARGV: replica, lease holder or '' for none, then the hash's fields), written only if the
# lease is the writer's or nobody's: a process paused past its lease while another took
# its id must not overwrite the new holder's checkpoint in the moment before it learns so.
_SAVE_CHECKPOINT = """
if ARGV[2] ~= '' then
  local holder = redis.call('GET', KEYS[3])
  if holder and holder ~= ARGV[2] then return {'taken', holder} end
end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'signature', ARGV[4], 'train_log_id', ARGV[5],
  'created_at', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# HINCRBY by one, except that a count written by hand as no integer ('abc'), which Redis
# refuses to add to, starts again at 1 rather than fail the join or a worker's transaction
# for good. The join script counts with it too.
_BUMP_FUNCTION = """
local function bump(key, field)
  local n = redis.pcall('HINCRBY', key, field, 1)
  if type(n) == 'table' and n.err then redis.call('HSET', key, field, 1) end
end
"""
_BUMP = _BUMP_FUNCTION + "bump(KEYS[1], ARGV[1])\n"


def _bump(pipe: Any, key: str, field: str) -> Any:
    """Count one more ``field`` in the hash ``key`` within ``pipe`` (see :data:`_BUMP`)."""
    return pipe.eval(_BUMP, 1, key, field)


# A key that holds another type than stream-al writes there (another program writes under
# the prefix) is answered {'wrong_type', key, found, expected} before the script's first
# write (Redis does not undo a script's writes at an error): an item's key, and that item
# is dead-lettered while the rest of the batch goes on (a plain error reply stopped serve,
# at every restart); a key of the deployment (RedisKeys.types), and the process stops
# naming it. The expected types are RedisKeys's.
_KEY_TYPE_FUNCTION = """
local function wrong_type(key, expected)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= expected then return {'wrong_type', key, found, expected} end
  return false
end
"""

# The pending key's type is asked only when its GET fails: a TYPE fewer on the hot path.
_ENQUEUE = (
    _KEY_TYPE_FUNCTION
    + """
local current = redis.pcall('GET', KEYS[1])
if type(current) == 'table' and current.err then return wrong_type(KEYS[1], 'string') end
if current then
  if current == ARGV[1] then return 2 end
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return wrong_type(KEYS[2], 'string') or 0
end
local wrong = wrong_type(KEYS[3], 'stream') or wrong_type(KEYS[4], 'zset')
  or (tonumber(ARGV[5]) > 0 and wrong_type(KEYS[5], 'stream'))
if wrong then return wrong end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[4])
for _ = 1, tonumber(ARGV[6]) do
  redis.call('XADD', KEYS[3], '*', 'item', ARGV[3])
end
if tonumber(ARGV[5]) > 0 then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'kind', 'query', 'id', ARGV[4],
    'body', ARGV[3])
end
return 1
"""
)

# Which items were asked already: for each id of ARGV[4..], 1 if its pending key (prefix
# ARGV[1]), its labeled key (ARGV[2]) or its dropped key (ARGV[3]: the workers dropped it
# unlabeled, _DROP) holds a string, what stream-al writes there, else 0.
# A key of another type is not stream-al's: the item is decided as new and the enqueue
# names that key (WrongType). The keys are made here, not passed: 1,000 key names cost
# redis-py 2.5 us per id to send, the ids alone 1.6 us with the lookups (500 ids, 10% of
# them pending, local Redis). Undeclared keys are fine on the one server serve allows
# (cluster mode is refused at start).
_ASKED = """
local out = {}
local function kept(key)
  return redis.call('EXISTS', key) == 1 and redis.call('TYPE', key).ok == 'string'
end
for i = 4, #ARGV do
  local id = ARGV[i]
  out[#out + 1] = (kept(ARGV[1] .. id) or kept(ARGV[2] .. id) or kept(ARGV[3] .. id)) and 1 or 0
end
return out
"""

# An item the workers drop unlabeled (KEYS: its pending key, its dropped key, the pending
# index; ARGV[1]: its id) leaves the pending items but stays asked (_ASKED) for as long as
# its pending item would have lived: a copy of its event consumed again is not asked, and
# queued, again. The mark is a few bytes where the pending item held its features, and
# it expires with the same deadline, so it never outlives or outweighs what it replaces.
_DROP = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[2], '1', 'PX', ttl) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# Resets the idle time of the entries of KEYS[1] that consumer ARGV[2] of group ARGV[1]
# still holds (an entry another worker took over stays with it).
_KEEP = """
local kept = 0
for i = 3, #ARGV do
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""

# How the join script reads the facts and performs the effects of stream_al.io.votes.RULES.
# KEYS: pending, labeled, train_log, labels, pending_index, audit, votes, agreement, joined
# (the label entry's answer). ARGV: label, labels group, label entry id, item id, labeled
# TTL (ms), audit maxlen, queue key (the crowd's normal band), min_agreement, the label's
# value as JSON (Python's), requeue seconds, how long the answer is kept (ms). Its counts
# use bump (_BUMP_FUNCTION, put first).
#
# A label's value is never decoded and encoded again here: Lua's numbers are doubles and
# cjson writes 14 digits, so 100000000000000001 and 100000000000000002 became one class,
# 1e+17, which serve then refused as a float. Votes keep their value's JSON beside them
# ('label:' fields), the tally counts those texts, and what is written with them (the
# consensus, the escalated item) is spliced as text around cjson's encoding of the rest.
_JOIN_MECHANICS = """
local item = redis.call('GET', KEYS[1])
local F, E = {}, {}
local p, vote, repeated, voters, tally, log_id
local function pending_record()  -- only a consensus item's is decoded
  if p == nil then
    p = {}
    if item and string.find(item, '"votes_needed"', 1, true) then p = cjson.decode(item) end
  end
  return p
end
local function this_vote()
  if vote == nil then vote = cjson.decode(ARGV[1]) end
  return vote
end
local function annotator()
  return tostring(this_vote()['annotator'] or UNKNOWN_ANNOTATOR)
end
local function queue_key(slot)
  if slot == '' then return ARGV[7] end
  return ARGV[7] .. ':' .. slot
end
local function all_voters()  -- {annotator, vote, label JSON}, this one too
  if voters == nil then
    voters = {}
    local fields, texts = redis.call('HGETALL', KEYS[7]), {}
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 6) == 'label:' then
        texts[string.sub(fields[i], 7)] = fields[i + 1]
      end
    end
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 5) == 'vote:' then
        local who, v = string.sub(fields[i], 6), cjson.decode(fields[i + 1])
        -- a vote kept before the texts were: its value as cjson writes it
        voters[#voters + 1] = {who, v, texts[who] or cjson.encode(v['label'])}
      end
    end
    if not F.repeated() then voters[#voters + 1] = {annotator(), this_vote(), ARGV[9]} end
  end
  return voters
end
local function counted()  -- the most frequent label (JSON), its votes, the runner-up's
  if tally == nil then
    local counts = {}
    for _, v in ipairs(all_voters()) do
      counts[v[3]] = (counts[v[3]] or 0) + 1
    end
    tally = {top = 0, runner_up = 0}
    for key, n in pairs(counts) do
      if n > tally.top then
        tally.best, tally.top, tally.runner_up = key, n, tally.top
      elseif n > tally.runner_up then
        tally.runner_up = n
      end
    end
  end
  return tally
end
local function labels_by_annotator()  -- a JSON object, annotator -> label, as text
  local parts = {}
  for _, v in ipairs(all_voters()) do parts[#parts + 1] = cjson.encode(v[1]) .. ':' .. v[3] end
  return '{' .. table.concat(parts, ',') .. '}'
end
local function with_fields(t, fields)  -- cjson's encoding of table t, then fields (text)
  local encoded = cjson.encode(t)
  if encoded == '{}' then return '{' .. string.sub(fields, 2) end
  return string.sub(encoded, 1, -2) .. fields .. '}'
end
local function learn_as(label)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[5], ARGV[4])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
  log_id = redis.call('XADD', KEYS[3], '*', 'item', item, 'label', label)
  if tonumber(ARGV[6]) > 0 then
    redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'kind', 'label', 'id', ARGV[4],
      'body', label, 'train_log_id', log_id)
  end
end

function F.pending() return item ~= false end
function F.labeled() return redis.call('EXISTS', KEYS[2]) == 1 end
function F.need() return tonumber(pending_record()['votes_needed']) or 1 end
function F.escalated() return pending_record()['escalated'] ~= nil end
function F.label_tier() return this_vote()['tier'] end
function F.repeated()
  if repeated == nil then
    repeated = redis.call('HEXISTS', KEYS[7], 'vote:' .. annotator()) == 1
  end
  return repeated
end
function F.waited()  -- (an earlier version's 'requeues' count in the hash: not read)
  local earlier = cjson.decode(redis.call('HGET', KEYS[7], 'vote:' .. annotator()))['ts']
  local ts = this_vote()['ts']
  if type(earlier) ~= 'number' or type(ts) ~= 'number' then return math.huge end
  return ts - earlier
end
function F.requeue_seconds() return tonumber(ARGV[10]) end
function F.votes() return #all_voters() end
function F.top() return counted().top end
function F.runner_up() return counted().runner_up end
function F.min_agreement() return tonumber(ARGV[8]) end

-- The answer is kept under the label entry's id: a join of that entry again (serve asks
-- again when the answer was lost with its connection, the join done and the label
-- acknowledged) answers the same and changes nothing (_JOIN_ANSWERED).
local function answer(reply)
  redis.call('SET', KEYS[9], reply[1] .. ' ' .. (reply[2] or ''), 'PX', ARGV[11])
  return reply
end

function E.learn() learn_as(ARGV[1]) end
function E.ack() redis.call('XACK', KEYS[4], ARGV[2], ARGV[3]) end
function E.record()
  redis.call('HSET', KEYS[7], 'vote:' .. annotator(), ARGV[1], 'label:' .. annotator(), ARGV[9])
  redis.call('PEXPIRE', KEYS[7], ARGV[5])
end
function E.requeue()
  local record = pending_record()
  redis.call('XADD', queue_key(record['slot'] or ''), '*', 'item', record['queue_item'])
end
function E.agree()
  local best = counted().best
  for _, v in ipairs(all_voters()) do
    bump(KEYS[8], v[1] .. ':total')
    if v[3] == best then bump(KEYS[8], v[1] .. ':agree') end
  end
end
function E.learn_consensus()
  local t, consensus = counted(), nil
  for _, v in ipairs(all_voters()) do
    if v[3] == t.best then consensus = v[2] end
  end
  consensus['annotator'] = CONSENSUS_ANNOTATOR
  consensus['agreement'] = t.top / #all_voters()
  consensus['label'], consensus['votes'] = nil, nil
  local votes_text = labels_by_annotator()
  redis.call('DEL', KEYS[7])
  learn_as(with_fields(consensus, ',"label":' .. t.best .. ',"votes":' .. votes_text))
end
function E.escalate()
  local labels, record, to = labels_by_annotator(), pending_record(), ESCALATION
  local escalated = ',"escalated":' .. labels
  local q_text, record_text
  if record['expert_item'] then  -- written by serve (service.routing), exact
    q_text = string.sub(record['expert_item'], 1, -2) .. escalated .. '}'
    record_text = string.sub(record['expert_record'], 1, -2) .. escalated .. '}'
  else  -- queued by an earlier version: its numbers re-encoded by cjson
    local q = cjson.decode(record['queue_item'])
    q['tier'], q['priority'], q['votes_needed'], q['escalated'] =
      to.tier, to.priority, to.votes_needed, nil
    q_text = with_fields(q, escalated)
    record['votes_needed'], record['tier'], record['slot'], record['escalated'] =
      to.votes_needed, to.tier, to.slot, nil
    record_text = with_fields(record, escalated)
  end
  redis.call('XADD', queue_key(to.slot), '*', 'item', q_text)
  redis.call('SET', KEYS[1], record_text, 'KEEPTTL')
  redis.call('DEL', KEYS[7])
end
"""

# Before the join reads anything, every key it may touch holds what stream-al writes there
# (in the order of _JOIN_MECHANICS's KEYS), or nothing; else it answers wrong_type having
# changed nothing (see _KEY_TYPE_FUNCTION).
_JOIN_KEY_TYPES = """
local types = {'string', 'string', 'stream', 'stream', 'zset', 'stream', 'hash', 'hash'}
for i, expected in ipairs(types) do
  local wrong = wrong_type(KEYS[i], expected)
  if wrong then return wrong end
end
"""

# A label entry joined already answers as it did then, and nothing changes (see answer in
# _JOIN_MECHANICS): its learned label was counted nowhere when that answer was lost. (A
# value the script did not write there is no answer: the join goes on.) The key's type is
# asked only when its GET fails, as the enqueue's: a TYPE fewer per join.
_JOIN_ANSWERED = """
local answered = redis.pcall('GET', KEYS[9])
if type(answered) == 'table' and answered.err then return wrong_type(KEYS[9], 'string') end
local outcome, train_log_id
if answered then outcome, train_log_id = string.match(answered, '^(%a+) (%S*)$') end
if outcome then
  if train_log_id == '' then return {outcome} end
  return {outcome, train_log_id}
end
"""

# A consensus item's record and votes are decoded, and fields of them used, by the join:
# one stream-al did not write (another program's, a hand's: not JSON, no queue item) failed
# the script, at times after its first writes (the label acknowledged), and serve exited,
# again at every start while the label waited. Checked before any write, and refused as a
# key of another type is (that label dead-lettered naming the key).
_JOIN_RECORDS = """
local function record_of(text)
  local ok, value = pcall(cjson.decode, text)
  if ok and type(value) == 'table' then return value end
end
local function not_ours(key, found, expected) return {'wrong_type', key, found, expected} end
local record_text = redis.call('GET', KEYS[1])
if record_text and string.find(record_text, '"votes_needed"', 1, true) then
  local r = record_of(record_text)
  if not r then return not_ours(KEYS[1], 'string that is no JSON object', 'item record') end
  if (tonumber(r['votes_needed']) or 1) > 1 then
    local slot, expert = r['slot'], r['expert_item']
    if type(r['queue_item']) ~= 'string' or (slot ~= nil and type(slot) ~= 'string')
      or (expert ~= nil and (type(expert) ~= 'string' or type(r['expert_record']) ~= 'string'))
      or (expert == nil and not record_of(r['queue_item'])) then
      return not_ours(KEYS[1], 'record without the queue item a vote needs', 'item record')
    end
    local fields = redis.call('HGETALL', KEYS[7])
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 5) == 'vote:' and not record_of(fields[i + 1]) then
        return not_ours(KEYS[7], 'hash whose ' .. fields[i] .. ' is no JSON object', 'votes hash')
      end
    end
  end
end
"""

_JOIN = votes.lua_script(
    _BUMP_FUNCTION
    + _KEY_TYPE_FUNCTION
    + _JOIN_KEY_TYPES
    + _JOIN_ANSWERED
    + _JOIN_RECORDS
    + _JOIN_MECHANICS
)

# Dead-letters a label and acknowledges it, once: a label acknowledged already (the answer
# to the first call lost with the connection, and serve asking again) is not dead-lettered
# twice. KEYS: labels, dead letters. ARGV: labels group, label entry id, dead letter, maxlen.
_REJECT = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'dead_letter', ARGV[3])
return 1
"""


def _wrong_type_reply(reply: Any) -> WrongType | None:
    """The :class:`~stream_al.io.base.WrongType` a script answered, if any."""
    if isinstance(reply, list) and reply and _text(reply[0]) == "wrong_type":
        return WrongType(*(_text(part) for part in reply[1:4]))
    return None


def connect(
    url: str,
    password: str | None = None,
    socket_timeout: float = 5.0,
    ssl_ca_certs: str | None = None,
) -> redis.Redis:
    """A client for ``url`` (bytes in, bytes out)."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "health_check_interval": 30,
    }
    if password:
        options["password"] = password
    if ssl_ca_certs:
        options["ssl_ca_certs"] = ssl_ca_certs
    return redis.Redis.from_url(url, **options)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _utf8(value: bytes) -> str | None:
    """``value`` as text, or None when it is not UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _wrong_type(exc: redis.ResponseError) -> bool:
    """Whether Redis answered ``WRONGTYPE``: the key holds something else than a hash."""
    return str(exc).startswith("WRONGTYPE")


def _not_a_checkpoint(key: str, exc: Exception) -> None:
    log.warning("%s is not a checkpoint this version can read (%s); ignored", key, exc)


@translate_errors((redis.ConnectionError, redis.TimeoutError), StoreUnavailable, "redis")
@server_states
@translate_errors((redis.AuthenticationError, NoPermissionError), credentials_refused, "redis")
class RedisStore:
    """:class:`~stream_al.io.base.LabelStore`, :class:`~stream_al.io.base.WorkerQueue`,
    :class:`~stream_al.io.base.CheckpointStore` and :class:`~stream_al.io.base.ReplicaStates`
    on one Redis server.

    Parameters
    ----------
    client
        A ``redis.Redis`` client (see :func:`connect`).
    prefix
        Prefix of every key.
    consumer
        This process's name in the consumer groups (the replica or worker name).
    label_ttl_seconds
        How long an item is remembered as labeled (should match the pending TTL).
    claim_idle_seconds
        Entries another consumer has held this long are taken over (it went away).
    audit_maxlen
        About how many queries and labels the audit stream keeps (0: no audit trail).
    min_agreement
        Share of an item's votes its majority label needs to be the consensus; less, or
        a tie, sends the item to one expert.
    requeue_seconds
        How long after an annotator's vote on an item its repeated votes put the copy back
        for someone else; a later repeat sends the item to an expert (see
        :data:`~stream_al.io.votes.REQUEUE_SECONDS`, the default, which workers follow too).

    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "stream_al",
        consumer: str = "stream-al",
        label_ttl_seconds: float = 7 * 24 * 3600.0,
        claim_idle_seconds: float = 60.0,
        audit_maxlen: int = 0,
        min_agreement: float = 0.5,
        requeue_seconds: float = votes.REQUEUE_SECONDS,
    ) -> None:
        # redis-py's annotations do not say what a reply holds; the code below does.
        self.client: Any = client
        self.keys = RedisKeys(prefix)
        self.consumer = consumer
        self.label_ttl_ms = int(label_ttl_seconds * 1000)
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self.audit_maxlen = audit_maxlen
        self.min_agreement = min_agreement
        self.requeue_seconds = requeue_seconds
        self._enqueue = client.register_script(_ENQUEUE)
        self._asked = client.register_script(_ASKED)
        self._join = client.register_script(_JOIN)
        self._keep = client.register_script(_KEEP)
        self._skip = client.register_script(_SKIP)
        self._put_state = client.register_script(_PUT_REPLICA_STATE)
        self._take_lease = client.register_script(_TAKE_LEASE)
        self._drop_lease = client.register_script(_DROP_LEASE)
        self._save_checkpoint = client.register_script(_SAVE_CHECKPOINT)
        # The lease token this process holds on its replica id (serve sets it once held):
        # its checkpoints are written only while no other process holds the id.
        self.lease_holder: str | None = None
        self._reject = client.register_script(_REJECT)
        self._recover_labels = True
        self._checkpoints_indexed = False
        # Per queue, where this worker's own unfinished items are read from after a
        # restart: each is handed back once, so a worker that holds items (the Label
        # Studio bridge) still gets new ones.
        self._recover_items: dict[str, str] = dict.fromkeys(self.keys.queues, "0")
        self._last_claim = 0.0
        self._state_id: bytes | None = None  # set by ensure_groups
        self._state_checked = 0.0
        # The last train-log entry read since the state was made (see _check_train_log).
        self._train_log_seen: str | None = None
        self._looked_since_join = False  # a read of labels looked: its joins need not
        self._not_counts: set[tuple[str, str | bytes]] = set()  # warned about once

    def ensure_groups(self) -> None:
        """:meth:`check_keys`, then create the consumer groups (and streams) if they do not
        exist yet, and the state id if there is none; remember the state id."""
        self.check_keys()
        groups = [(key, WORKERS_GROUP) for key in self.keys.queues]
        for key, group in [*groups, (self.keys.labels, LABELS_GROUP)]:
            try:
                self.client.xgroup_create(key, group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self.client.set(self.keys.state_id, uuid.uuid4().hex, nx=True)
        self._state_id = self.client.get(self.keys.state_id)
        self._train_log_seen = None  # nothing read from this state yet

    def check_keys(self) -> None:
        """Raise :class:`~stream_al.errors.ConfigurationError` naming each key of the
        deployment (:attr:`RedisKeys.types`) that holds another type than stream-al keeps
        there: another program writes under the prefix, and every use of the key would
        fail (``WRONGTYPE``, naming no key) until it is deleted."""
        expected = self.keys.types
        pipe = self.client.pipeline(transaction=False)
        for key in expected:
            pipe.type(key)
        wrong = [
            WrongType(key, _text(found), kind)
            for (key, kind), found in zip(expected.items(), pipe.execute(), strict=True)
            if _text(found) not in ("none", kind)
        ]
        if wrong:
            raise self._not_ours(wrong)

    def _not_ours(self, wrong: Sequence[WrongType]) -> ConfigurationError:
        """The error for keys of the deployment that hold another type (a setting to fix)."""
        keys = " ".join(w.key for w in wrong)
        return ConfigurationError(
            f"{'; '.join(w.found_instead for w in wrong)}: another program writes under "
            f"STREAM_AL_REDIS__PREFIX ({self.keys.prefix}); delete "
            f"{'it' if len(wrong) == 1 else 'them'} (redis-cli DEL {keys}) if nothing needs "
            "it, or choose another STREAM_AL_REDIS__PREFIX"
        )

    def _item_only(self, wrong: WrongType) -> WrongType:
        """``wrong`` if the key is an item's; raised as a setting to fix if it is one of
        the deployment's keys (every item would meet it)."""
        if wrong.key in self.keys.types:
            raise self._not_ours([wrong])
        return wrong

    def _check_state(self) -> None:
        """Raise :class:`~stream_al.errors.StoreReset` when the state id changed or went:
        Redis lost its data since :meth:`ensure_groups`, even if another process has
        recreated the groups already (so no NOGROUP reply would tell)."""
        known = self._state_id
        current = self.client.get(self.keys.state_id)
        if known is not None and current == known:
            return
        self.ensure_groups()
        if known is not None:
            raise StoreReset(
                "redis no longer holds stream-al's state (its state id changed: it lost its "
                "data); the consumer groups are recreated"
            )

    def _check_train_log(self) -> None:
        """Raise :class:`~stream_al.errors.StoreRolledBack` when the train log ends before the
        last entry this store read from it: Redis came back with older data than it had
        (restarted from a snapshot older than its last writes, as Redis's default RDB
        persistence does after a crash, or a lagging replica promoted). Its state id and
        groups are there, so nothing else tells; the model holds labels the log no longer
        has, and a replica that replays the log would not."""
        seen = self._train_log_seen
        if seen is None:
            return
        try:
            last = _text(self.client.xinfo_stream(self.keys.train_log)["last-generated-id"])
        except redis.ResponseError as exc:
            if "no such key" not in str(exc).lower():
                raise
            last = "0-0"  # the snapshot was taken before the first label was joined
        if stream_position(last) >= stream_position(seen):
            return
        self._check_state()  # all of it lost (the state id gone): said as such
        self._train_log_seen = None
        raise StoreRolledBack(
            f"redis came back with older data than it had (its train log ends at {last}, "
            f"serve had read up to {seen}: restarted from an older snapshot, or a replica "
            "that lagged was promoted); what was written after that is lost"
        )

    def _look_at_state(self) -> None:
        """:meth:`_check_state` each second, :meth:`_check_train_log` at every call: redis-py
        reconnects within a call, so no failure says Redis restarted, and one label joined
        into the older log would hide that it went back."""
        now = time.monotonic()
        if now - self._state_checked >= STATE_CHECK_SECONDS:
            self._state_checked = now
            self._check_state()
        self._check_train_log()

    def ensure_groups_ok(self) -> bool:
        """:meth:`check_server`, :meth:`check_eviction`, then :meth:`ensure_groups`,
        returning True (for retry helpers: what serve and the workers do at start)."""
        self.check_server()
        self.check_eviction()
        self.ensure_groups()
        return True

    def check_server(self) -> None:
        """Raise :class:`~stream_al.errors.ConfigurationError` if Redis is older than
        :data:`MIN_REDIS_VERSION` or runs in cluster mode
        (:func:`~stream_al.io.redis_faults.in_cluster_mode`): found at start, before
        anything is read or written, rather than at the first batch or the first trim. A
        Redis that does not let us read ``INFO`` is only logged (a cluster's replies are
        still named where they are met)."""
        try:
            info = self.client.info()
        except redis.ResponseError as exc:  # INFO renamed or not allowed (managed Redis)
            log.warning("redis: cannot read INFO (%s): make sure it is Redis 6.2+, no cluster", exc)
            return
        problem = server_problem(info)
        if problem is not None:
            raise problem

    def check_eviction(self) -> None:
        """Raise :class:`~stream_al.errors.ConfigurationError` if Redis may evict keys: at
        its ``maxmemory`` an evicting policy drops queued items, pending items, labels and
        train-log entries without a word (a ``volatile-*`` one, the items that have a TTL).
        A Redis that does not let us read its configuration is only logged."""
        try:
            config = self.client.config_get("maxmemory*")
        except redis.ResponseError as exc:  # CONFIG renamed or not allowed (managed Redis)
            log.warning("redis: cannot read maxmemory-policy (%s): make sure it is noeviction", exc)
            return
        policy, limit = config.get("maxmemory-policy"), config.get("maxmemory")
        if policy in (None, "noeviction") or limit in (None, "0"):
            return
        raise ConfigurationError(
            f"redis may evict stream-al's keys (maxmemory-policy {policy}, maxmemory "
            f"{limit} bytes): queued items, labels and the train log would be lost without a "
            "word; set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, "
            "and in its configuration file)"
        )

    def ping(self) -> bool:
        return bool(self.client.ping())

    # -- serve side --------------------------------------------------------------------

    def enqueue(
        self, item_id: str, pending: str, item: str, ttl_seconds: float, slot: str = ""
    ) -> bool | WrongType:
        return self.enqueue_many([EnqueueRequest(item_id, pending, item, ttl_seconds, slot)])[0]

    def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[bool | WrongType]:
        # The script answers 2 for a pending payload stored identically already: queued
        # by an interrupted earlier attempt at this batch; a list for a key of the wrong
        # type (see _ENQUEUE).
        if not requests:
            return []
        calls: list[tuple[list[str], list[str | int]]] = []
        for r in requests:
            keys = [
                self.keys.pending(r.item_id),
                self.keys.labeled(r.item_id),
                self.keys.slot(r.slot),
                self.keys.pending_index,
                self.keys.audit,
            ]
            args: list[str | int] = [r.pending, int(r.ttl_seconds * 1000), r.item, r.item_id]
            args += [self.audit_maxlen, r.copies]
            calls.append((keys, args))
        out: list[bool | WrongType] = []
        for reply in _run_script(self.client, self._enqueue, calls):
            wrong = _wrong_type_reply(reply)
            out.append(int(reply) != 0 if wrong is None else self._item_only(wrong))
        return out

    def asked(self, item_ids: Sequence[str]) -> set[str]:
        if not item_ids:
            return set()
        prefixes = [self.keys.pending(""), self.keys.labeled(""), self.keys.dropped("")]
        args: list[str | int] = [*prefixes, *item_ids]
        [reply] = _run_script(self.client, self._asked, [([], args)])  # one script, one trip
        return {i for i, asked in zip(item_ids, reply, strict=True) if asked}

    def queue_depth(self) -> int:
        return sum(self.queue_depths().values())

    def queue_depths(self) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for tier in TIERS:
            for slot in tier_slots(tier):
                pipe.xlen(self.keys.slot(slot))
        lengths = iter(int(n) for n in pipe.execute())
        return {tier: sum(next(lengths) for _ in tier_slots(tier)) for tier in TIERS}

    def queue_stats(self) -> dict[str, int]:
        key, names = self.keys.queue_stats, ("stale", "skipped")
        found = self.client.hmget(key, names)
        return {n: self._count(key, n, value) for n, value in zip(names, found, strict=True)}

    def agreement(self) -> dict[str, float]:
        key, found = self.keys.agreement, self.client.hgetall(self.keys.agreement)
        counts = {
            name.decode("utf-8", "replace"): self._count(key, name, value)
            for name, value in found.items()
        }
        return agreement_ratios(counts)

    def _count(self, key: str, field: str | bytes, value: bytes | None) -> int:
        """A count the workers or the join script keep (HINCRBY), 0 if there is none or it
        is no integer: serve reads these for its gauges each second, and one value written
        by hand ('abc') stopped it there within a second of every start. Said once."""
        try:
            return int(value or 0)
        except ValueError:
            if (key, field) not in self._not_counts:
                self._not_counts.add((key, field))
                log.warning("%s field %r is no count (%r); read as 0", key, field, value)
            return 0

    def pending_count(self) -> int:
        now_ms = int(time.time() * 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.zremrangebyscore(self.keys.pending_index, "-inf", now_ms)
        pipe.zcard(self.keys.pending_index)
        return int(pipe.execute()[1])

    def _read_group(
        self, key: str, group: str, start: str, count: int, block_ms: int | None = None
    ) -> list[tuple[str, dict[bytes, bytes] | None]]:
        reply = self.client.xreadgroup(
            group, self.consumer, {key: start}, count=count, block=block_ms
        )
        out: list[tuple[str, dict[bytes, bytes] | None]] = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                out.append((_text(entry_id), fields or None))
        return out

    def _claim(self, key: str, group: str, count: int) -> list[tuple[str, dict[bytes, bytes]]]:
        reply = self.client.xautoclaim(
            key,
            group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=count,
        )
        claimed = (reply[1] if reply else None) or []
        return [(_text(entry_id), fields) for entry_id, fields in claimed if fields]

    def read_labels(self, count: int) -> list[tuple[str, str | Unreadable]]:
        key, group = self.keys.labels, LABELS_GROUP
        self._look_at_state()
        self._looked_since_join = True
        entries: list[tuple[str, dict[bytes, bytes] | None]] = []
        if self._recover_labels:  # what this replica read before it stopped
            entries = self._read_group(key, group, "0", count)
            if not entries:
                self._recover_labels = False
        now = time.monotonic()
        if not entries and now - self._last_claim > self.claim_idle_ms / 2000:
            self._last_claim = now
            entries = list(self._claim(key, group, count))
        if not entries:
            entries = self._read_group(key, group, ">", count)
        return [(entry_id, label_entry(fields)) for entry_id, fields in entries]

    def join(self, entry_id: str, item_id: str, label: str) -> Joined:
        return self.join_many([(entry_id, item_id, label)])[0]

    def join_many(self, requests: Sequence[tuple[str, str, str]]) -> list[Joined]:
        if not requests:
            return []
        if not self._looked_since_join:  # labels held across an outage: joined unread
            self._look_at_state()
        self._looked_since_join = False
        calls: list[tuple[list[str], list[str | int]]] = []
        for entry_id, item_id, label in requests:
            keys = [
                self.keys.pending(item_id),
                self.keys.labeled(item_id),
                self.keys.train_log,
                self.keys.labels,
                self.keys.pending_index,
                self.keys.audit,
                self.keys.votes(item_id),
                self.keys.agreement,
                self.keys.joined(entry_id),
            ]
            args: list[str | int] = [label, LABELS_GROUP, entry_id, item_id, self.label_ttl_ms]
            args += [self.audit_maxlen, self.keys.queue, repr(self.min_agreement)]
            args.append(json.dumps(json.loads(label)["label"]))  # see _JOIN_MECHANICS
            args.append(repr(self.requeue_seconds))
            args.append(self.claim_idle_ms)  # see LabelStore.join
            calls.append((keys, args))
        out: list[Joined] = []
        for reply in _run_script(self.client, self._join, calls):
            if (wrong := _wrong_type_reply(reply)) is not None:
                out.append(self._item_only(wrong))
                continue
            outcome = _text(reply[0])
            out.append((outcome, _text(reply[1]) if len(reply) > 1 else None))  # type: ignore[arg-type]
        return out

    def trim_labels(self, kept_seconds: float) -> int:
        key, client = self.keys.labels, self.client
        try:
            group = next(g for g in client.xinfo_groups(key) if _text(g["name"]) == LABELS_GROUP)
        except (redis.ResponseError, StopIteration):  # no stream or no group yet
            return 0
        seconds, micros = client.time()  # Redis's clock: it stamped the entry ids
        cutoff_ms = max(0, (seconds * 1000 + micros // 1000) - int(kept_seconds * 1000))
        # XTRIM MINID keeps ids >= minid: not past the last entry the group was given (the
        # rest is unread), nor the oldest one given and not acknowledged.
        ms, seq = stream_position(_text(group["last-delivered-id"]))
        bounds = [f"{cutoff_ms}-0", f"{ms}-{seq + 1}"]
        # Asked whatever XINFO said: another replica may have acknowledged every entry
        # pending then (no "min" now, which made XTRIM's MINID None: a DataError that
        # stopped serve); one delivered since is past last-delivered-id, so kept anyway.
        oldest_pending = client.xpending(key, LABELS_GROUP)["min"]
        if oldest_pending is not None:
            bounds.append(_text(oldest_pending))
        return int(client.xtrim(key, minid=min(bounds, key=stream_position), approximate=False))

    def reject_label(self, entry_id: str, dead_letter: str) -> None:
        keys = [self.keys.labels, self.keys.dead_letters]
        self._reject(keys=keys, args=[LABELS_GROUP, entry_id, dead_letter, DEAD_LETTERS_MAXLEN])

    def read_train_log(self, after: str | None, count: int) -> list[TrainLogEntry]:
        start = f"({after}" if after else "-"
        entries = self.client.xrange(self.keys.train_log, min=start, max="+", count=count)
        if entries:
            self._train_log_seen = _text(entries[-1][0])
        # Leniently: an entry that is not what serve wrote fails to learn, and is skipped.
        return [
            TrainLogEntry(
                _text(entry_id),
                lenient(fields.get(b"item", b"")),
                lenient(fields.get(b"label", b"")),
            )
            for entry_id, fields in entries
        ]

    def skip_train_log_entry(self, entry_id: str, dead_letter: str) -> bool:
        keys = [self.keys.train_log_skipped, self.keys.dead_letters]
        return bool(self._skip(keys=keys, args=[entry_id, dead_letter, DEAD_LETTERS_MAXLEN]))

    # -- worker side -------------------------------------------------------------------

    def take(
        self,
        consumer: str,
        count: int,
        block_ms: int,
        tier: str = "crowd",
        stale_seconds: float | None = None,
    ) -> list[Entry]:
        self.consumer = consumer
        group = WORKERS_GROUP
        keys = [self.keys.slot(slot) for slot in tier_slots(tier)]  # high band first
        entries: list[tuple[str, str, dict[bytes, bytes] | None]] = []
        for key in keys:
            if key in self._recover_items and len(entries) < count:
                mine = self._read_group(key, group, self._recover_items[key], count - len(entries))
                if mine:
                    self._recover_items[key] = mine[-1][0]
                else:
                    del self._recover_items[key]
                entries += [(key, e, f) for e, f in mine]
        for key in keys:
            if len(entries) < count:
                entries += [(key, e, f) for e, f in self._claim(key, group, count - len(entries))]
        if not entries:
            reply = self.client.xreadgroup(
                group, consumer, dict.fromkeys(keys, ">"), count=count, block=block_ms or None
            )
            by_key = {_text(key): items for key, items in reply or []}
            for key in keys:  # the high band first, whatever order Redis answered in
                entries += [(key, _text(e), f or None) for e, f in by_key.get(key, [])]
            entries = entries[:count]
        out: list[Entry] = []
        now = time.time()
        for key, entry_id, fields in entries:
            if fields is None or b"item" not in fields:
                self.client.xack(key, group, entry_id)
                continue
            # Bytes serve did not write (not UTF-8) still reach the worker, which drops an
            # entry it cannot read and labels nothing by a garbled id.
            item = fields[b"item"].decode("utf-8", errors="replace")
            if stale_seconds is not None and item_age(item, now) > stale_seconds:
                pipe, _ = self._finishing(self._entry(key, entry_id))
                _bump(pipe, self.keys.queue_stats, "stale").execute()
                continue
            out.append((self._entry(key, entry_id), item))
        return out

    def take_own_again(self, consumer: str) -> None:
        self.consumer = consumer
        self._recover_items = dict.fromkeys(self.keys.queues, "0")

    def _entry(self, key: str, entry_id: str) -> str:
        """The entry id a worker sees: the stream's slot travels with it (``slot/id``)."""
        slot = key[len(self.keys.queue) + 1 :]
        return f"{slot}/{entry_id}" if slot else entry_id

    def _finishing(self, entry_id: str) -> tuple[Any, str]:
        """A transaction that acknowledges and deletes a worker's queue entry; its stream."""
        slot, _, stream_id = entry_id.rpartition("/")
        key = self.keys.slot(slot)
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(key, WORKERS_GROUP, stream_id).xdel(key, stream_id)
        return pipe, key

    def complete(self, entry_id: str, label: str | None) -> None:
        pipe, _ = self._finishing(entry_id)
        if label is not None:
            pipe.xadd(self.keys.labels, {"label": label})
        pipe.execute()

    def keep(self, consumer: str, entry_ids: Sequence[str]) -> int:
        by_key: dict[str, list[str]] = {}
        for entry_id in entry_ids:
            slot, _, stream_id = entry_id.rpartition("/")
            by_key.setdefault(self.keys.slot(slot), []).append(stream_id)
        return sum(
            int(self._keep(keys=[key], args=[WORKERS_GROUP, consumer, *ids]))
            for key, ids in by_key.items()
        )

    def release(self, entry_id: str, item: str) -> None:
        pipe, key = self._finishing(entry_id)
        pipe.xadd(key, {"item": item}).execute()

    def drop(self, entry_id: str, item_id: str) -> None:
        pipe, _ = self._finishing(entry_id)
        keys = [self.keys.pending(item_id), self.keys.dropped(item_id), self.keys.pending_index]
        pipe.eval(_DROP, len(keys), *keys, item_id)  # rare: no script cache needed
        _bump(pipe, self.keys.queue_stats, "skipped").execute()

    def read_audit(self, count: int = 1000) -> list[dict[str, str]]:
        """The newest ``count`` audit records, oldest first (with their stream ``ts``)."""
        entries = self.client.xrevrange(self.keys.audit, count=count)
        return [
            {"ts": _text(entry_id), **{_text(k): _text(v) for k, v in fields.items()}}
            for entry_id, fields in reversed(entries)
        ]

    def depth(self) -> int:
        return self.queue_depth()

    # -- checkpoints -------------------------------------------------------------------

    def save(self, checkpoint: Checkpoint) -> None:
        self._check_train_log()  # not a model holding labels the log lost, for others to load
        replica = checkpoint.replica
        keys = [self.keys.checkpoint(replica), self.keys.checkpoints, self.keys.lease(replica)]
        args: list[str | bytes] = [replica, self.lease_holder or "", checkpoint.data]
        args.append(checkpoint.signature)
        args += [checkpoint.train_log_id or "", repr(checkpoint.created_at)]
        reply = self._save_checkpoint(keys=keys, args=args)
        if isinstance(reply, list):
            raise ReplicaIdTaken(
                f"STREAM_AL_SERVICE__REPLICA_ID={replica}: another serve process holds this "
                f"replica id now ({lease_holder_name(lenient(reply[1]))}); this one's "
                "checkpoint is not written: give each process its own "
                "STREAM_AL_SERVICE__REPLICA_ID"
            )

    def load(self, replica: str) -> Checkpoint | None:
        """This replica's checkpoint; None if there is none, or if its key holds no
        checkpoint serve wrote (ignored with a warning, as a checkpoint directory ignores
        such a file: read as it was, it stopped serve at start or at every checkpoint)."""
        key = self.keys.checkpoint(replica)
        try:
            fields = self.client.hgetall(key)
            if not fields:
                return None
            return Checkpoint(
                replica=replica,
                train_log_id=checked_train_log_id(_text(fields.get(b"train_log_id", b""))),
                data=bytes(fields.get(b"data", b"")),
                signature=_text(fields.get(b"signature", b"")),
                created_at=float(fields.get(b"created_at", b"0")),
                origin=f"redis key {key}",
                remove=f"redis-cli DEL {key}",
            )
        except (ValueError, redis.ResponseError) as exc:
            if isinstance(exc, redis.ResponseError) and not _wrong_type(exc):
                raise  # Redis refusing for now, or without its state: waited out, not ignored
            _not_a_checkpoint(key, exc)
            return None

    def _replicas(self) -> list[str]:
        """The replicas in the checkpoint index (which may name a deleted checkpoint)."""
        if not self._checkpoints_indexed:
            # Checkpoints saved before the index existed are found once, and indexed.
            prefix = self.keys.checkpoint("")
            found = [
                key[len(prefix) :]
                for key in self._names(self.client.scan_iter(match=f"{prefix}*", count=1000))
            ]
            if found:
                self.client.sadd(self.keys.checkpoints, *found)
            self._checkpoints_indexed = True
        return sorted(self._names(self.client.smembers(self.keys.checkpoints)))

    def _names(self, raw: Iterable[bytes]) -> list[str]:
        """Key and replica names as text; one that is not UTF-8 (written by hand: no
        replica is named so) is passed over with a warning, as a checkpoint serve did not
        write is: it had stopped serve at every trim of the train log."""
        names = []
        for name in raw:
            try:
                names.append(_text(name))
            except UnicodeDecodeError as exc:
                _not_a_checkpoint(f"{name!r} (in {self.keys.checkpoints})", exc)
        return names

    def newest(self) -> Checkpoint | None:
        return newest_of(*(self.load(r) for r in self._replicas()))

    # -- replica states ------------------------------------------------------------------

    def put_replica_state(
        self, replica: str, state: ReplicaState, ttl_seconds: float, forget_seconds: float
    ) -> None:
        keys = [self.keys.replica_state(replica), self.keys.replicas]
        ttl_ms = max(1, int(ttl_seconds * 1000))
        self._put_state(keys=keys, args=[state.to_json(), ttl_ms, replica, forget_seconds])

    def replica_states(self) -> list[ReplicaSeen]:
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(self.keys.replicas, 0, -1, withscores=True)
        (seconds, micros), listed = pipe.execute()
        now = seconds + micros / 1e6
        # A name that is not UTF-8 (written by hand: serve names none so) stopped status
        # itself; it is listed as unreadable, by its bytes, and its state is not read.
        names = [(_utf8(name), name, score) for name, score in listed]
        pipe = self.client.pipeline(transaction=False)
        for name, _, _ in names:
            if name is not None:
                pipe.get(self.keys.replica_state(name))
        seen = []
        states = iter(pipe.execute(raise_on_error=False))
        for name, raw_name, score in names:
            silent_for = max(0.0, now - score)
            if name is None:
                why = f"its name in {self.keys.replicas} is not UTF-8 text"
                seen.append(ReplicaSeen(lenient(raw_name), None, silent_for, unreadable=why))
                continue
            raw = next(states)
            if raw is None:
                seen.append(ReplicaSeen(name, None, silent_for))
                continue
            try:
                if isinstance(raw, Exception):  # WRONGTYPE: not a state serve wrote
                    raise ValueError(str(raw))
                seen.append(ReplicaSeen(name, ReplicaState.from_json(raw), silent_for))
            except ValueError as exc:
                seen.append(ReplicaSeen(name, None, silent_for, unreadable=str(exc)))
        return sorted(seen, key=lambda s: s.replica)

    # -- replica leases -----------------------------------------------------------------

    def take_lease(self, replica: str, holder: str, ttl_seconds: float) -> LeaseTaken:
        ttl_ms = max(1, int(ttl_seconds * 1000))
        reply = self._take_lease(keys=[self.keys.lease(replica)], args=[holder, ttl_ms])
        if isinstance(reply, list):
            return LeaseHolder(lenient(reply[0]), max(0, int(reply[1])) / 1000)
        return "kept" if int(reply) == 1 else "taken"

    def drop_lease(self, replica: str, holder: str) -> bool:
        return bool(self._drop_lease(keys=[self.keys.lease(replica)], args=[holder]))

    def trim_train_log(self) -> int:
        replicas = self._replicas()
        pipe = self.client.pipeline(transaction=False)
        for replica in replicas:
            pipe.hget(self.keys.checkpoint(replica), "train_log_id")
        ids: list[str] = []
        found_ids = pipe.execute(raise_on_error=False)
        for replica, found in zip(replicas, found_ids, strict=True):
            key = self.keys.checkpoint(replica)
            if found is None:  # deleted (a forced model import): not a checkpoint any more
                self.client.srem(self.keys.checkpoints, replica)
            elif isinstance(found, redis.ResponseError):
                if not _wrong_type(found):
                    raise found
                _not_a_checkpoint(key, found)
            else:
                try:
                    ids.append(checked_train_log_id(_text(found)) or "")
                except ValueError as exc:  # no replica restores it: it holds nothing back
                    _not_a_checkpoint(key, exc)
        if not ids or not all(ids):
            return 0  # a checkpoint before any entry: keep everything
        oldest = min(ids, key=stream_position)
        return int(self.client.xtrim(self.keys.train_log, minid=oldest))


def store_for(
    settings: Settings,
    consumer: str,
    claim_idle_seconds: float | None = None,
    socket_timeout: float | None = None,
) -> RedisStore:
    """The deployment's Redis store as ``consumer`` (a replica, a worker, a command);
    entries another consumer held ``claim_idle_seconds`` are taken over (default: the
    replicas' setting, ``STREAM_AL_SERVICE__LABEL_CLAIM_IDLE_SECONDS``). A call waits
    ``socket_timeout`` seconds at most for Redis (default: ``STREAM_AL_REDIS__SOCKET_TIMEOUT``,
    or less where that is shorter)."""
    r = settings.redis
    timeout = r.socket_timeout if socket_timeout is None else min(socket_timeout, r.socket_timeout)
    client = connect(
        r.url,
        password=r.password.get_secret_value() if r.password else None,
        socket_timeout=timeout,
        ssl_ca_certs=r.ssl_ca_certs,
    )
    return RedisStore(
        client,
        prefix=r.prefix,
        consumer=consumer,
        label_ttl_seconds=r.label_ttl_seconds,
        claim_idle_seconds=(
            settings.service.label_claim_idle_seconds
            if claim_idle_seconds is None
            else claim_idle_seconds
        ),
        audit_maxlen=settings.service.audit_maxlen,
        min_agreement=settings.service.min_agreement,
    )
