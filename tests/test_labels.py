import pytest

from mlflow_cv.data.labels import load_class_map, parse_class_list, parse_label_text
from mlflow_cv.errors import DatasetError


def test_detect_lines_counted_and_problems_located():
    counts, problems = parse_label_text(
        "0 0.5 0.5 0.2 0.2\n\n1 0.1 0.1 0.1 0.1\n0 0.5 0.5\nx 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n0 .5 .5 0 .1\n",
        path="labels/a.txt",
        task="detect",
    )
    assert counts == {0: 1, 1: 1}
    assert problems == [
        "labels/a.txt:4: expected 5 values 'class cx cy w h', got 3",
        "labels/a.txt:5: class id 'x' is not a whole number",
        "labels/a.txt:6: coordinates must be normalized to 0..1, got 1.5",
        "labels/a.txt:7: box width and height must be positive, got w=0 h=0.1",
    ]


def test_detect_hints_at_segment_for_polygons():
    _, problems = parse_label_text("0 0.1 0.1 0.2 0.1 0.2 0.2", path="l.txt", task="detect")
    assert "--task segment" in problems[0]


def test_segment_and_pose():
    counts, problems = parse_label_text("2 0.1 0.1 0.5 0.1 0.3 0.4\n1 0.1 0.1\n", path="s.txt", task="segment")
    assert counts == {2: 1} and problems[0].startswith("s.txt:2: expected 'class x1 y1")
    line = "0 0.5 0.5 0.2 0.2 0.4 0.4 2 0.6 0.6 1\n"
    assert parse_label_text(line, path="p.txt", task="pose", kpt_shape=(2, 3)) == ({0: 1}, [])
    _, problems = parse_label_text(line, path="p.txt", task="pose", kpt_shape=(3, 3))
    assert "expected 14 values" in problems[0]


def test_class_map_sources(tmp_path):
    assert load_class_map(tmp_path) == (None, {})
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    assert load_class_map(tmp_path)[0] == {0: "cat", 1: "dog"}
    (tmp_path / "data.yaml").write_text("names: {0: cat, 1: dog}\nkpt_shape: [17, 3]\n")
    assert load_class_map(tmp_path) == ({0: "cat", 1: "dog"}, {"kpt_shape": [17, 3]})
    (tmp_path / "data.yaml").write_text("names: [cat, bird]\n")
    with pytest.raises(DatasetError, match="disagree"):
        load_class_map(tmp_path)
    assert parse_class_list("a, b,c") == {0: "a", 1: "b", 2: "c"}


@pytest.mark.parametrize(
    ("text", "match"),
    [("names: {0: a, 2: b}\n", "without gaps"), ("names: [a, a]\n", "duplicate"), ("names: [\n", "cannot read")],
)
def test_bad_class_maps(tmp_path, text, match):
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(DatasetError, match=match):
        load_class_map(tmp_path)
