"""Registry read-modify-writes under concurrency (issue 9): a rollback, an
alias move and a stage transition with archive_existing_versions each read
and write inside one store write job, so every answer is exactly what its
promotion event records, however many run at once.

Before: a rollback read the alias's previous version outside the write and
the version it answered after it, so acknowledged rollbacks reported (from,
to) pairs found in no event, and committed ones answered errors.  Here 16
clients fire a few hundred rollbacks, alias moves and stage transitions at one
model, and every answer is checked against the history."""

import collections
import random
import threading
import urllib.parse

from conftest import assert_ok, unique

NATIVE = "/api/mw/models/"
VERSIONS = 6
CLIENTS = 16
OPS = 25


def native(srv, session, method, name, rest, body=None):
    url = srv.url + NATIVE + urllib.parse.quote(name, safe="") + "/" + rest
    return session.request(method, url, json=body, timeout=60)


def test_concurrent_rollbacks_moves_and_transitions_answer_their_events(mw_factory):
    import requests

    srv = mw_factory()
    name = unique("race")
    assert_ok(srv.post("registered-models/create", {"name": name}))
    for _ in range(VERSIONS):
        assert_ok(srv.post("model-versions/create", {"name": name, "source": "s3://b/m"}))
    s = requests.Session()
    for v in range(1, VERSIONS + 1):  # a deep history to roll back through
        assert_ok(native(srv, s, "POST", name, "aliases", {"alias": "champion", "version": v}))

    results = collections.defaultdict(list)
    lock = threading.Lock()

    def client(seed):
        rnd = random.Random(seed)
        sess = requests.Session()
        for _ in range(OPS):
            op = rnd.choice(["rollback", "rollback", "set", "stage"])
            if op == "rollback":
                r = native(srv, sess, "POST", name, "rollback", {"alias": "champion"})
                out = (r.status_code, r.json())
            elif op == "set":
                v = rnd.randint(1, VERSIONS)
                r = native(srv, sess, "POST", name, "aliases", {"alias": "champion", "version": v})
                out = (r.status_code, r.json(), v)
            else:
                v = rnd.randint(1, VERSIONS)
                st = rnd.choice(["Production", "Staging"])
                r = native(srv, sess, "POST", name, f"versions/{v}/stage",
                           {"stage": st, "archive_existing_versions": True})
                out = (r.status_code, r.json(), v, st)
            with lock:
                results[op].append(out)
        sess.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(len(v) for v in results.values()) == CLIENTS * OPS

    events = assert_ok(native(srv, s, "GET", name, "history"))["events"]
    alias_events = [e for e in events if e["target"] == "champion"]

    # every answered rollback is one rollback event, and the other way round
    ok_rollbacks = [b for code, b in results["rollback"] if code == 200]
    for code, b in results["rollback"]:
        # no conflict any more: a rollback with nowhere to go is a 400, nothing else
        assert code in (200, 400), (code, b)
    answered = collections.Counter((b["from_version"], b["to_version"]) for b in ok_rollbacks)
    recorded = collections.Counter((e["from_version"], e["to_version"])
                                   for e in alias_events if e["kind"] == "rollback")
    assert answered == recorded
    for b in ok_rollbacks:
        assert b["model_version"]["version"] == b["to_version"]
        assert b["from_version"] != b["to_version"]

    # every answered move names the version it set
    for code, b, v in results["set"]:
        assert code == 200, b
        assert b["model_version"]["version"] == str(v)

    # the alias's events form one chain: each starts where the one before ended
    prev = None
    for e in alias_events[VERSIONS:]:
        assert e["from_version"] == prev if prev is not None else True
        prev = e["to_version"]
    final = assert_ok(srv.get("registered-models/alias", {"name": name, "alias": "champion"}))
    assert final["model_version"]["version"] == alias_events[-1]["to_version"]

    # transitions answer the stage they set; archive_existing_versions leaves at
    # most one version in each active stage, and the events replay to the stages
    for code, b, v, st in results["stage"]:
        assert code == 200, b
        mv = b["model_version"]
        assert mv["version"] == str(v) and mv["current_stage"] == st
    stages = {str(v): "None" for v in range(1, VERSIONS + 1)}
    for e in events:
        if e["kind"] == "stage_transition":
            assert stages[e["target"]] == e["from_stage"], e
            stages[e["target"]] = e["to_stage"]
    now = {}
    for v in range(1, VERSIONS + 1):
        mv = assert_ok(srv.get("model-versions/get", {"name": name, "version": str(v)}))
        now[str(v)] = mv["model_version"]["current_stage"]
    assert now == stages
    for st in ("Production", "Staging"):
        assert list(now.values()).count(st) <= 1
