import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlflow_cv.data.splits import SplitSpec, assign_splits, describe_gaps, parse_ratios, split_gaps
from mlflow_cv.errors import DatasetError

ITEMS = [f"img_{i:05d}" for i in range(2000)]


def test_deterministic_sorted_and_near_ratios():
    spec = SplitSpec(seed=7)
    a = assign_splits(ITEMS, spec)
    assert a == assign_splits(reversed(ITEMS), spec)
    assert all(v == sorted(v) for v in a.values())
    assert abs(len(a["train"]) / len(ITEMS) - 0.7) < 0.04
    assert assign_splits(ITEMS, SplitSpec(seed=8)) != a


@given(st.sets(st.text(min_size=1, max_size=12), min_size=1, max_size=60))
def test_items_keep_their_split_when_others_are_added(extra):
    spec = SplitSpec(seed=3)
    before = assign_splits(ITEMS[:300], spec)
    after = assign_splits([*ITEMS[:300], *extra], spec)
    where = {i: s for s, items in after.items() for i in items}
    assert all(where[i] == s for s, items in before.items() for i in items)


def test_parse_ratios():
    assert parse_ratios("val=0.25,train=0.75") == (("train", 0.75), ("val", 0.25))
    for bad, match in [
        ("train=0.7,val=0.2", "sum to"),
        ("train=0.7,val", "NAME=FRACTION"),
        ("val=1", "no 'train'"),
        ("train=0.5,train=0.5", "twice"),
        ("train=1.2,val=-0.2", "ratio"),
    ]:
        with pytest.raises(DatasetError, match=match):
            parse_ratios(bad)


def _split_of(out: dict[str, list[str]]) -> dict[str, str]:
    return {i: s for s, items in out.items() for i in items}


def test_every_split_keeps_every_class_it_can():
    """20 images of a common class and 3 of a rare one: a plain keyed hash leaves the rare class out of
    some split (found below); with the classes, every split gets one, and no split loses its last."""
    spec = SplitSpec(seed=0)
    items = [f"c{i:02d}" for i in range(20)] + ["rare_a", "rare_b", "rare_c"]
    classes = {i: ({1} if i.startswith("rare") else {0}) for i in items}
    plain = _split_of(assign_splits(items, spec))
    assert {plain[i] for i in items if i.startswith("rare")} != {"train", "val", "test"}  # the case to fix
    out = assign_splits(items, spec, classes=classes)
    assert {s for i, s in _split_of(out).items() if i.startswith("rare")} == {"train", "val", "test"}
    assert all(any(classes[i] == {0} for i in out[s]) for s in out), "the common class stays everywhere"
    assert out == assign_splits(list(reversed(items)), spec, classes=classes), "deterministic"
    moved = {i for i, s in _split_of(out).items() if plain[i] != s}
    assert moved and all(i.startswith("rare") for i in moved), "only what the gap needs moves"


def test_kept_items_never_move_and_gaps_are_reported():
    spec = SplitSpec(seed=0)
    first = ["c0", "c1", "c2", "c3", "c4", "solo"]
    classes = {i: ({1} if i == "solo" else {0}) for i in first}
    parent = _split_of(assign_splits(first, spec, classes=classes))
    grown = [*first, *(f"n{i}" for i in range(30))]
    classes |= {f"n{i}": {0, 1} if i % 10 == 0 else {0} for i in range(30)}
    child = _split_of(assign_splits(grown, spec, classes=classes, keep=parent))
    assert all(child[i] == s for i, s in parent.items()), "the parent's items stay where they were"
    assert split_gaps({"train": {"a": 3, "b": 1}, "val": {"a": 1, "b": 0}, "test": {"a": 0, "b": 0}}) == {
        "val": ("b",),
        "test": ("a", "b"),
    }
    assert describe_gaps({"test": ("b",)}).startswith("warning: split test has no b")
