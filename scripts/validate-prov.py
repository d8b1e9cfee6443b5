#!/usr/bin/env python3
"""Validates a PROV-JSON file: scripts/validate-prov.py FILE

1. Reads it with the `prov` package (ProvDocument.deserialize(f, format="json")) with every
   Python warning turned into an error, so what prov only warns about fails too (a
   timestamp that is not an xsd:dateTime, a qualified name whose prefix is not declared).
   Before that, every record id, attribute name and reference of the form `prefix:local` is
   checked against the declared prefixes, so such an error names the prefix.
2. Checks the orderings prov does not (PROV-CONSTRAINTS), over all bundles:
   - every activity: endTime >= startTime;
   - every `used` with a time: time >= the time of every timed `wasGeneratedBy` of the same
     entity (an entity is used only after it is generated);
   - every `wasGeneratedBy` with a time: start <= time <= end of its activity (for the
     bounds the activity has);
   - every `used` with a time: start <= time <= end of its activity (likewise);
   - a relation names only activities, entities and agents declared in the document.
   Two times of which only one has a time zone cannot be ordered, and are reported.

Exit status: 0 when all holds; 1 with one line per problem on standard output; 2 on a
usage error.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections import defaultdict

# Prefixes prov knows without a declaration; "_" is for blank-node identifiers.
PREDEFINED = {"prov", "xsd", "xml", "rdf", "rdfs", "_"}
RECORD_KINDS = {
    "entity", "activity", "agent", "wasGeneratedBy", "used", "wasInformedBy", "wasStartedBy",
    "wasEndedBy", "wasInvalidatedBy", "wasDerivedFrom", "wasAttributedTo", "wasAssociatedWith",
    "actedOnBehalfOf", "wasInfluencedBy", "specializationOf", "alternateOf", "mentionOf",
    "hadMember", "bundle",
}
# Attributes of relations whose value is the qualified name of a record.
REFERENCES = {
    f"prov:{a}"
    for a in (
        "activity entity agent plan trigger starter ender generatedEntity usedEntity generation "
        "usage delegate responsible informed informant influencer influencee specificEntity "
        "generalEntity alternate1 alternate2 collection bundle"
    ).split()
}


def prefix_problems(container: dict, declared: set[str], where: str) -> list[str]:
    """Names whose prefix is not declared, in one document or bundle (PROV-JSON form)."""
    problems = []
    prefixes = container.get("prefix", {})
    if isinstance(prefixes, dict):
        declared = declared | set(prefixes)
        if "default" in prefixes:
            declared.add("")

    def check(name: object, what: str) -> None:
        if not isinstance(name, str) or ":" not in name:
            return
        pfx = name.split(":", 1)[0]
        if pfx in declared or "/" in pfx or pfx.lower() in ("http", "https", "urn", "file"):
            return
        problems.append(f"{where}{what} '{name}': prefix '{pfx}' is not declared")

    for kind, records in container.items():
        if kind == "prefix" or not isinstance(records, dict):
            continue
        if kind == "bundle":
            for bid, bundle in records.items():
                check(bid, "bundle")
                if isinstance(bundle, dict):
                    problems += prefix_problems(bundle, declared, f"bundle {bid}: ")
            continue
        for rid, attrs in records.items():
            check(rid, f"{kind}")
            for rec in attrs if isinstance(attrs, list) else [attrs]:
                if not isinstance(rec, dict):
                    continue
                for key, value in rec.items():
                    check(key, f"{kind} {rid}: attribute")
                    if key in REFERENCES and isinstance(value, str):
                        check(value, f"{kind} {rid}: {key}")
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, dict):
                            check(item.get("type"), f"{kind} {rid}: {key} datatype")
                            if item.get("type") in ("prov:QUALIFIED_NAME", "xsd:QName"):
                                check(item.get("$"), f"{kind} {rid}: {key} value")
    return problems


def fmt(t) -> str:
    return t.isoformat()


def ordered(a, b) -> bool | None:
    """a <= b, or None when one has a time zone and the other has not."""
    try:
        return a <= b
    except TypeError:
        return None


def order_problems(doc) -> list[str]:
    from prov.constants import PROV_ATTR_ACTIVITY, PROV_ATTR_ENTITY, PROV_ATTR_TIME
    from prov.model import ProvActivity, ProvElement, ProvGeneration, ProvRelation, ProvUsage

    flat = doc.flattened()
    problems: list[str] = []
    starts: dict[str, list] = defaultdict(list)
    ends: dict[str, list] = defaultdict(list)
    declared: set[str] = set()

    for rec in flat.get_records(ProvElement):
        declared.add(str(rec.identifier))
    for act in flat.get_records(ProvActivity):
        aid = str(act.identifier)
        if act.get_startTime() is not None:
            starts[aid].append(act.get_startTime())
        if act.get_endTime() is not None:
            ends[aid].append(act.get_endTime())

    def compare(a, b, message: str) -> None:
        """Reports `message` unless a <= b; its subject is the text before ': '."""
        ok = ordered(a, b)
        if ok is None:
            subject = message.split(": ", 1)[0]
            problems.append(f"{subject}: cannot order {fmt(a)} and {fmt(b)}: only one has a time zone")
        elif not ok:
            problems.append(message)

    for aid in sorted(set(starts) & set(ends)):
        for s in starts[aid]:
            for e in ends[aid]:
                compare(s, e, f"activity {aid}: endTime {fmt(e)} is before startTime {fmt(s)}")

    generations: dict[str, list[tuple]] = defaultdict(list)
    for gen in flat.get_records(ProvGeneration):
        attrs = dict(gen.formal_attributes)
        ent, act, t = attrs.get(PROV_ATTR_ENTITY), attrs.get(PROV_ATTR_ACTIVITY), attrs.get(PROV_ATTR_TIME)
        if ent is not None and t is not None:
            generations[str(ent)].append((t, str(act) if act is not None else None))
        if act is not None and t is not None:
            a = str(act)
            for s in starts.get(a, []):
                compare(s, t, f"wasGeneratedBy({ent}, {a}, {fmt(t)}): time is before the activity's startTime {fmt(s)}")
            for e in ends.get(a, []):
                compare(t, e, f"wasGeneratedBy({ent}, {a}, {fmt(t)}): time is after the activity's endTime {fmt(e)}")

    for use in flat.get_records(ProvUsage):
        attrs = dict(use.formal_attributes)
        act, ent, t = attrs.get(PROV_ATTR_ACTIVITY), attrs.get(PROV_ATTR_ENTITY), attrs.get(PROV_ATTR_TIME)
        if t is None:
            continue
        if ent is not None:
            for gt, gact in generations.get(str(ent), []):
                compare(gt, t, f"used({act}, {ent}, {fmt(t)}): time is before the entity's generation at {fmt(gt)} by {gact}")
        if act is not None:
            a = str(act)
            for s in starts.get(a, []):
                compare(s, t, f"used({a}, {ent}, {fmt(t)}): time is before the activity's startTime {fmt(s)}")
            for e in ends.get(a, []):
                compare(t, e, f"used({a}, {ent}, {fmt(t)}): time is after the activity's endTime {fmt(e)}")

    for rel in flat.get_records(ProvRelation):
        for attr, value in rel.formal_attributes:
            if value is None or attr == PROV_ATTR_TIME or not hasattr(value, "namespace"):
                continue
            if str(value) not in declared:
                problems.append(f"{' '.join(rel.get_provn().split())}: {attr} {value} is not declared")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: validate-prov.py FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        raw = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"{path}: not readable as JSON: {e}")
        return 1
    if not isinstance(raw, dict):
        print(f"{path}: a PROV-JSON document is a JSON object")
        return 1

    problems = [f"{path}: '{k}' is not a PROV-JSON record type" for k in raw if k != "prefix" and k not in RECORD_KINDS]
    problems += [f"{path}: {p}" for p in prefix_problems(raw, set(PREDEFINED), "")]
    if problems:
        print("\n".join(problems))
        return 1

    from prov.model import ProvDocument

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with open(path, encoding="utf-8") as f:
                doc = ProvDocument.deserialize(f, format="json")
        except Exception as e:  # noqa: BLE001 — any failure to read is a finding
            print(f"{path}: prov rejects it: {type(e).__name__}: {' '.join(str(e).split())}")
            return 1
        problems = order_problems(doc)

    if problems:
        print("\n".join(f"{path}: {p}" for p in problems))
        return 1
    n = len(doc.flattened().get_records())
    print(f"{path}: valid PROV-JSON ({n} records; orderings hold)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
