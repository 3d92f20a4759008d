import pytest

from mlflow_cv.errors import BumpError, SemverError
from mlflow_cv.semver import Bump, Version, check_bump, parse_snapshot_id, snapshot_lineage


def test_parse_and_order_numerically():
    assert Version.parse("1.10.0") > Version.parse("1.9.9")
    assert Version.parse("v2.0.1") == Version(2, 0, 1)
    assert parse_snapshot_id("DS-1.1.1") == Version(1, 1, 1)


@pytest.mark.parametrize("bad", ["1.2", "1.2.3.4", "01.2.3", "a.b.c", "", "1.2.-3"])
def test_rejects_non_semver(bad):
    with pytest.raises(SemverError, match="MAJOR.MINOR.PATCH"):
        Version.parse(bad)


@pytest.mark.parametrize("bad", ["1.1.1", "DS-1.1", "DS-../1.0.0", "-1.0.0", "9A-1.0.0", "ROADS_-1.0", "A B-1.0.0"])
def test_rejects_bad_snapshot_ids(bad):
    with pytest.raises(SemverError, match="expected NAME-MAJOR.MINOR.PATCH"):
        parse_snapshot_id(bad)


def test_snapshot_ids_name_their_lineage():
    assert (snapshot_lineage("DS-1.1.1"), parse_snapshot_id("DS-1.1.1")) == ("DS", Version(1, 1, 1))
    assert (snapshot_lineage("Roads_2-2.0.1"), parse_snapshot_id("Roads_2-2.0.1")) == ("Roads_2", Version(2, 0, 1))


def test_bump_kinds_and_resets():
    v = Version(1, 4, 2)
    assert v.bump(Bump.MAJOR) == Version(2, 0, 0)
    assert v.bump(Bump.MINOR) == Version(1, 5, 0)
    assert v.bump(Bump.PATCH) == Version(1, 4, 3)
    assert Version(1, 5, 0).bump_from(v) is Bump.MINOR
    assert Version(1, 4, 2).bump_from(v) is Bump.NONE
    with pytest.raises(SemverError, match="resets the lower numbers"):
        Version(2, 1, 0).bump_from(v)


def test_check_bump_refuses_smaller_than_required_with_reasons():
    with pytest.raises(BumpError) as info:
        check_bump(old=Version(1, 1, 0), new=Version(1, 1, 1), required=Bump.MINOR, reasons=["images added: 3"])
    assert "requires MINOR" in str(info.value) and "1.2.0" in str(info.value)
    assert info.value.problems == ("images added: 3",)
    assert check_bump(old=Version(1, 1, 0), new=Version(2, 0, 0), required=Bump.MINOR, reasons=[]) is Bump.MAJOR


def test_check_bump_refuses_nothing_changed_and_not_higher():
    with pytest.raises(BumpError, match="nothing changed"):
        check_bump(old=Version(1, 0, 0), new=Version(1, 0, 1), required=Bump.NONE, reasons=[])
    with pytest.raises(SemverError, match="must be higher"):
        check_bump(old=Version(1, 2, 0), new=Version(1, 1, 0), required=Bump.PATCH, reasons=[])


def test_bump_parse():
    assert Bump.parse("Minor") is Bump.MINOR
    with pytest.raises(SemverError):
        Bump.parse("none")


def test_bump_choice_auto_is_none():
    """``auto`` (the CLI's and Hydra's word) is None for the library: the bump the lineage requires."""
    from mlflow_cv.config import BumpChoice

    assert Bump.choice("auto") is None and Bump.choice(BumpChoice.auto) is None
    assert Bump.choice("patch") is Bump.PATCH and Bump.choice(BumpChoice.major) is Bump.MAJOR
    assert {Bump.choice(c) for c in BumpChoice} == {None, Bump.PATCH, Bump.MINOR, Bump.MAJOR}
    with pytest.raises(SemverError):
        Bump.choice("mayor")
