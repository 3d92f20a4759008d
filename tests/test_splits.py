import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlflow_cv.data.splits import SplitSpec, assign_splits, parse_ratios
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
