"""The stat cache is data, never code: JSON checked field by field, anything else counts as no cache."""

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_cv.data.checkout import verify
from mlflow_cv.data.hashing import FileStat
from mlflow_cv.data.stat_cache import StatCache


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: what a pickle planted in a project could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_is_never_loaded(snap, tmp_path):
    project, src = snap
    assert verify(project, "DS-1.0.0", src).ok  # the cache and its clean record exist
    cache = StatCache.for_root(project.cache_dir, src)
    marker = tmp_path / "pwned"
    for path in (cache.path, cache.path.with_suffix(".clean")):  # as version 2 wrote them
        doc = {
            "version": 2,
            "root": str(src.resolve()),
            "entries": {},
            "expected": {},
            "clean": {},
            "payload": _Payload(marker),
        }
        path.write_bytes(pickle.dumps(doc))

    report = verify(project, "DS-1.0.0", src)

    assert not marker.exists(), "loading the cache ran code"
    assert report.ok and report.hashed == 480, "the foreign cache counted as no cache: everything was hashed"
    assert json.loads(cache.path.read_bytes())["version"] == 3, "and it was rewritten as JSON"
    assert verify(project, "DS-1.0.0", src).hashed == 0


def _spoil(doc, how):
    """One malformed cache: a wrong type, a wrong length, a missing or extra key, another header."""
    entries, expected = doc["entries"], next(iter(doc["expected"].values()))
    match how:
        case "paths not strings":
            entries["paths"][0] = 7
        case "ino not base64":
            entries["ino"] = [1, 2, 3]
        case "size short":
            entries["size"] = entries["size"][:-12]
        case "hash not hex":
            entries["sha256"] = "z" * len(entries["sha256"])
        case "hash upper case":
            entries["sha256"] = entries["sha256"].upper()
        case "path twice":
            entries["paths"][1] = entries["paths"][0]
        case "manifest stat as text":
            expected["manifest"] = ["1", "2", "3"]
        case "manifest stat of bools":
            expected["manifest"] = [True, True, True]
        case "mask not 0/1":
            expected["cached"] = "Ag" + expected["cached"][2:]
        case "expected file not a hash":
            expected["files"] = {"images/shape_0000.jpg": 12}
        case "missing key":
            del expected["others"]
        case "extra key":
            doc["entries"]["extra"] = []
        case "version as text":
            doc["version"] = "3"
        case "version as float":
            doc["version"] = 3.0
        case "another root":
            doc["root"] = "/somewhere/else"
        case "a list":
            return [doc]
    return doc


@pytest.mark.parametrize(
    "how",
    [
        "paths not strings",
        "ino not base64",
        "size short",
        "hash not hex",
        "hash upper case",
        "path twice",
        "manifest stat as text",
        "manifest stat of bools",
        "mask not 0/1",
        "expected file not a hash",
        "missing key",
        "extra key",
        "version as text",
        "version as float",
        "another root",
        "a list",
    ],
)
def test_a_malformed_json_cache_counts_as_no_cache(snap, how):
    project, src = snap
    assert verify(project, "DS-1.0.0", src).ok  # the cache and its clean record exist
    cache = StatCache.for_root(project.cache_dir, src)
    doc = json.loads(cache.path.read_bytes())
    cache.path.write_text(json.dumps(_spoil(doc, how)))

    report = verify(project, "DS-1.0.0", src)

    assert report.ok and report.hashed == 480, "nothing of the malformed cache was trusted"
    assert verify(project, "DS-1.0.0", src).hashed == 0, "it was rewritten"


def test_the_cache_round_trips(tmp_path):
    cache = StatCache(tmp_path / "c.stat", root=tmp_path)
    cache.put("a.jpg", FileStat(1, 2, 3), "a" * 64, hashed_at_ns=10**18)
    cache.put("b.jpg", FileStat(2**64 - 1, 0, -5), "b" * 64, hashed_at_ns=10**18)
    cache.save()
    again = StatCache(tmp_path / "c.stat", root=tmp_path)
    assert again.get("a.jpg", FileStat(1, 2, 3)) == "a" * 64
    assert again.get("b.jpg", FileStat(2**64 - 1, 0, -5)) == "b" * 64
    assert again.get("a.jpg", FileStat(1, 2, 4)) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["entries", "expected", "clean", "record"]), value=_JSON)
def test_any_json_in_any_field_never_crashes_a_load(tmp_path, field, value):
    root = tmp_path / "tree"
    cache = StatCache(tmp_path / "c.stat", root=root)
    header = {"format": "mlflow-cv stat cache", "version": 3, "root": str(root)}
    entries = {"paths": [], "ino": "", "size": "", "mtime_ns": "", "sha256": ""}
    main = {**header, "entries": entries, "expected": {}}
    clean = {**header, "clean": {}}
    if field == "record":
        clean["clean"] = {"k": value}
    elif field == "clean":
        clean["clean"] = value
    else:
        main[field] = value
    cache.path.write_text(json.dumps(main))
    cache.path.with_suffix(".clean").write_text(json.dumps(clean))
    cache.clean("k")
    cache.get("x", FileStat(1, 2, 3))
    cache.known(["x"], {"x": (1, 2, 3)})
    cache.expected("k")
