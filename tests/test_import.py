"""`mlflow-cv data import`: exports written by third-party libraries (globox, label-studio-converter,
pycocotools) or following the tools' documented structure (tests/data/import/), converted to YOLO trees
whose lines are checked against values computed by hand, snapshotted, and refused whole when wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import mlflow_cv as cv
from mlflow_cv.cli import cli
from mlflow_cv.data.importers import Provenance
from mlflow_cv.data.importers.geometry import clip_polygon, join_parts, polygon_area
from mlflow_cv.errors import AnnotationError, DatasetError
from mlflow_cv.project import Project
from mlflow_cv.render import to_text

SAMPLES = Path(__file__).parent / "data" / "import"
W, H = 200, 100  # every test image, unless said otherwise


def image(path: Path, size: tuple[int, int] = (W, H), colour: tuple[int, int, int] = (90, 90, 90)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def labels(dest: Path) -> dict[str, list[str]]:
    return {
        p.relative_to(dest / "labels").as_posix(): p.read_text().splitlines() for p in (dest / "labels").rglob("*.txt")
    }


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(fmt: str, source: Path, dest: Path, **options: object) -> AnnotationError:
    """The import's refusal; DEST and any temp folder beside it must not exist afterwards."""
    with pytest.raises(AnnotationError) as info:
        cv.import_dataset(fmt, source, dest, **options)
    assert not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]
    return info.value


# --- exports written by third-party libraries ----------------------------------------------------------


def globox_set(boxes: dict[str, list[tuple[str, float, float, float, float]]]):  # type: ignore[no-untyped-def]
    from globox import Annotation, AnnotationSet, BoundingBox

    return AnnotationSet(
        Annotation(name, (W, H), [BoundingBox(label=lb, xmin=a, ymin=b, xmax=c, ymax=d) for lb, a, b, c, d in objs])
        for name, objs in boxes.items()
    )


BOXES = {
    "a.png": [("cat", 20, 10, 60, 50), ("zebra", 0, 0, 200, 100)],
    "b.png": [("dog", 100, 50, 150, 100)],
    "c.png": [],
}
# By hand: cat (20,10)-(60,50) in 200x100 → centre (40, 30)/(200, 100) = 0.2 0.3, size 40/200 40/100 = 0.2 0.4.
EXPECTED = {"a.txt": ["0 0.2 0.3 0.2 0.4", "2 0.5 0.5 1 1"], "b.txt": ["1 0.625 0.75 0.25 0.5"], "c.txt": []}


@pytest.fixture
def coco(tmp_path: Path) -> Path:
    """A COCO export written by globox, with non-contiguous category ids 1, 3, 7."""
    root = tmp_path / "coco"
    for name in BOXES:
        image(root / "images" / name)
    (root / "annotations").mkdir()
    globox_set(BOXES).save_coco(
        root / "annotations" / "instances_default.json",
        label_to_id={"cat": 1, "dog": 3, "zebra": 7},
        imageid_to_id={"a.png": 10, "b.png": 20, "c.png": 30},
    )
    return root


def test_coco_from_globox_maps_category_ids_stably(coco: Path, tmp_path: Path) -> None:
    result = cv.import_dataset("coco", coco, tmp_path / "out")
    dest = tmp_path / "out"
    assert labels(dest) == EXPECTED
    assert (result.images, result.objects, result.classes, result.task) == (3, 3, ("cat", "dog", "zebra"), "detect")
    assert (dest / "images" / "a.png").read_bytes() == (coco / "images" / "a.png").read_bytes()
    assert "names:\n  0: cat\n  1: dog\n  2: zebra\n" in (dest / "data.yaml").read_text()
    prov = Provenance.from_dir(dest)
    assert [(c.source_id, c.class_id, c.name) for c in prov.category_map] == [
        (1, 0, "cat"),
        (3, 1, "dog"),
        (7, 2, "zebra"),
    ]
    source = coco / "annotations" / "instances_default.json"
    [entry] = prov.sources
    assert entry.path == "annotations/instances_default.json" and entry.size == source.stat().st_size
    import hashlib

    assert entry.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (dest / ".mlflow-cv-import" / "sources" / entry.path).read_bytes() == source.read_bytes()
    assert prov.options == {"out_of_bounds": "refuse", "drop_invalid": False} and prov.format == "coco"
    # The same categories listed in another order, in another export, give the same map.
    doc = json.loads(source.read_text())
    doc["categories"].reverse()
    source.write_text(json.dumps(doc))
    again = cv.import_dataset("coco", coco, tmp_path / "again")
    assert again.classes == result.classes and labels(tmp_path / "again") == EXPECTED


def test_reimport_gives_a_byte_identical_tree(coco: Path, tmp_path: Path) -> None:
    cv.import_dataset("coco", coco, tmp_path / "one")
    cv.import_dataset("coco", coco, tmp_path / "two")
    cv.import_dataset("coco", coco, tmp_path / "linked", link="hardlink")
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert one == two == tree(tmp_path / "linked") and ".mlflow-cv-import/provenance.json" in one
    assert (tmp_path / "linked" / "images" / "a.png").samefile(coco / "images" / "a.png")
    assert str(tmp_path).encode() not in one[".mlflow-cv-import/provenance.json"]  # no absolute paths


def test_coco_labels_match_ultralytics_convert_coco(tmp_path: Path) -> None:
    from ultralytics.data.converter import convert_coco

    root = tmp_path / "coco"
    for name in BOXES:
        image(root / "images" / name)
    (root / "annotations").mkdir()
    globox_set(BOXES).save_coco(
        root / "annotations" / "instances_val.json",
        label_to_id={"cat": 1, "dog": 2, "zebra": 3},
        imageid_to_id={"a.png": 1, "b.png": 2, "c.png": 3},
    )
    cv.import_dataset("coco", root, tmp_path / "ours")
    convert_coco(str(root / "annotations"), str(tmp_path / "theirs"), cls91to80=False)
    for path in (tmp_path / "theirs" / "labels" / "val").glob("*.txt"):  # they write no file for c.png
        theirs = [[float(v) for v in line.split()] for line in path.read_text().splitlines()]
        ours = [
            [float(v) for v in line.split()]
            for line in (tmp_path / "ours" / "labels" / path.name).read_text().splitlines()
        ]
        assert np.allclose(ours, theirs, atol=1e-6), path.name


def test_voc_from_globox(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    for name in BOXES:
        image(root / "JPEGImages" / name)
    globox_set(BOXES).save_xml(_mkdir(root / "Annotations"))
    cv.import_dataset("voc", root, tmp_path / "out")
    assert labels(tmp_path / "out") == EXPECTED  # sorted names: cat, dog, zebra


def test_cvat_from_globox(tmp_path: Path) -> None:
    root = tmp_path / "cvat"
    for name in BOXES:
        image(root / "images" / name)
    globox_set(BOXES).save_cvat(root / "annotations.xml")
    result = cv.import_dataset("cvat", root, tmp_path / "out")
    assert labels(tmp_path / "out") == EXPECTED and result.task == "detect"


def test_labelstudio_from_label_studio_converter_matches_coco(coco: Path, tmp_path: Path) -> None:
    from label_studio_converter.imports.coco import convert_coco_to_ls

    export = tmp_path / "ls" / "export.json"
    export.parent.mkdir()
    convert_coco_to_ls(str(coco / "annotations" / "instances_default.json"), str(export))
    assert '"/data/local-files/?d=/a.png"' in export.read_text()
    result = cv.import_dataset("labelstudio", export, tmp_path / "out", images=coco / "images")
    assert labels(tmp_path / "out") == EXPECTED  # c.png: an annotation with no shapes, a background image
    assert result.warnings == ()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside pycocotools, numpy 2
def test_coco_rle_from_pycocotools_compressed_uncompressed_and_crowd(tmp_path: Path) -> None:
    from pycocotools import mask as rle_mask

    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[1:4, 2:6] = 1  # rows 1..3, columns 2..5
    compressed = rle_mask.encode(np.asfortranarray(mask))
    compressed["counts"] = compressed["counts"].decode("ascii")
    # Column-major runs starting with background, by hand: 16 + 1 zeros, then 3 ones / 5 zeros per column.
    uncompressed = {"size": [8, 10], "counts": [17, 3, 5, 3, 5, 3, 5, 3, 36]}
    root = tmp_path / "coco"
    image(root / "images" / "m.png", (10, 8))
    doc = {
        "images": [{"id": 1, "file_name": "m.png", "width": 10, "height": 8}],
        "categories": [{"id": 4, "name": "blob"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 4, "iscrowd": 0, "bbox": [2, 1, 4, 3], "segmentation": compressed},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 4,
                "iscrowd": 1,
                "bbox": [2, 1, 4, 3],
                "segmentation": uncompressed,
            },
        ],
    }
    _write(root / "annotations" / "instances.json", doc)
    result = cv.import_dataset("coco", root, tmp_path / "out")
    # The outer contour through the boundary pixels: (2,1) (2,3) (5,3) (5,1), over (10, 8).
    line = "0 0.2 0.125 0.2 0.375 0.5 0.375 0.5 0.125"
    assert labels(tmp_path / "out") == {"m.txt": [line, line]} and result.task == "segment"
    assert "1 crowd annotation(s) (iscrowd 1) imported as one object each" in result.warnings
    assert set(Provenance.from_dir(tmp_path / "out").libraries) == {"opencv", "pycocotools"}


# --- samples following the tools' documented structure (tests/data/import/) --------------------------


def test_cvat_sample_polygons_make_a_segment_tree(tmp_path: Path) -> None:
    images = tmp_path / "images"
    image(images / "frame_000.jpg")
    image(images / "frame_001.jpg")
    result = cv.import_dataset("cvat", SAMPLES / "cvat" / "annotations.xml", tmp_path / "out", images=images)
    assert result.classes == ("car", "lane", "sign")  # declared in <meta>, sorted; sign unused but kept
    assert labels(tmp_path / "out") == {
        "frame_000.txt": ["0 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5", "1 0 1 0.5 0.5 1 1"],  # the box as 4 corners
        "frame_001.txt": [],
    }
    assert "1 CVAT <polyline> shape(s) not imported (YOLO segment takes <box> and <polygon>)" in result.warnings
    assert "1 boxes written as 4-corner polygons (segment import)" in result.warnings
    detect = cv.import_dataset(
        "cvat", SAMPLES / "cvat" / "annotations.xml", tmp_path / "det", images=images, task="detect"
    )
    assert labels(tmp_path / "det")["frame_000.txt"] == ["0 0.2 0.3 0.2 0.4", "1 0.5 0.75 1 0.5"]
    assert detect.task == "detect"


def test_labelstudio_sample_upload_paths_and_percentages(tmp_path: Path) -> None:
    images = tmp_path / "uploads"
    image(images / "5d2f9a1c-street.jpg")
    result = cv.import_dataset("labelstudio", SAMPLES / "labelstudio" / "export.json", tmp_path / "out", images=images)
    # rectangle 10%,20% 30%x40% of 200x100 → (20,20)-(80,60); polygon (50,50)(75,50)(75,100)% → pixels ÷ size.
    assert labels(tmp_path / "out") == {
        "5d2f9a1c-street.txt": ["0 0.1 0.2 0.4 0.2 0.4 0.6 0.1 0.6", "1 0.5 0.5 0.75 0.5 0.75 1"]
    }
    assert result.classes == ("car", "lane")
    assert result.warnings == (
        "1 task(s) without a completed annotation were not imported",
        "1 Label Studio 'choices' result(s) not imported (YOLO takes rectangles and polygons)",
        "1 boxes written as 4-corner polygons (segment import)",
    )


def test_voc_sample_keeps_difficult_and_truncated_beside_the_labels(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    shutil.copytree(SAMPLES / "voc", root)
    image(root / "JPEGImages" / "000001.jpg")
    cv.import_dataset("voc", root, tmp_path / "keep")
    assert labels(tmp_path / "keep") == {"000001.txt": ["0 0.2 0.3 0.2 0.4", "1 0.75 0.5 0.5 1"]}
    flags = json.loads((tmp_path / "keep" / ".mlflow-cv-import" / "object_flags.json").read_text())
    assert flags == {
        "000001": [
            {"line": 1, "difficult": False, "truncated": True},
            {"line": 2, "difficult": True, "truncated": False},
        ]
    }
    assert Provenance.from_dir(tmp_path / "keep").sidecars == ("object_flags.json",)
    dropped = cv.import_dataset("voc", root, tmp_path / "drop", voc_drop_difficult=True)
    assert labels(tmp_path / "drop") == {"000001.txt": ["0 0.2 0.3 0.2 0.4"]}
    assert dropped.dropped == {"difficult (--voc-drop-difficult)": 1}
    assert Provenance.from_dir(tmp_path / "drop").options["voc_drop_difficult"] is True


# --- masks and folders ---------------------------------------------------------------------------------


def _masks(root: Path, *, index: bool) -> None:
    """A 12x10 mask: road in rows 0..4, car in rows 6..8 x columns 2..5, and a 1-pixel car speck."""
    image(root / "images" / "s.jpg", (12, 10))
    road, car = (1, 2) if index else ((128, 64, 128), (0, 0, 142))
    pixels = np.zeros((10, 12) if index else (10, 12, 3), dtype=np.uint8)
    pixels[0:5, :] = road
    pixels[6:9, 2:6] = car
    pixels[9, 11] = car
    (root / "masks").mkdir(parents=True)
    Image.fromarray(pixels).save(root / "masks" / "s.png")


MASK_LINES = ["0 0 0 0 0.4 0.916667 0.4 0.916667 0", "1 0.166667 0.6 0.166667 0.8 0.416667 0.8 0.416667 0.6"]


def test_masks_palette_and_index_to_polygons(tmp_path: Path) -> None:
    _masks(tmp_path / "rgb", index=False)
    result = cv.import_dataset("masks", tmp_path / "rgb", tmp_path / "out", palette="road=128,64,128;car=0,0,142")
    assert labels(tmp_path / "out") == {"s.txt": MASK_LINES}
    assert result.dropped == {"mask region below --min-area": 1} and result.classes == ("road", "car")
    prov = Provenance.from_dir(tmp_path / "out")
    assert [c.source_id for c in prov.category_map] == ["128,64,128", "0,0,142"]
    assert prov.options["min_area"] == 10 and [s.path for s in prov.sources] == ["masks/s.png"]
    _masks(tmp_path / "idx", index=True)  # pixel 1 = road, 2 = car
    cv.import_dataset("masks", tmp_path / "idx", tmp_path / "out2", classes="road,car")
    assert labels(tmp_path / "out2") == {"s.txt": MASK_LINES}
    err = refused("masks", tmp_path / "idx", tmp_path / "out3", classes="road,car", min_area=1)
    assert err.problems[0].startswith("masks/s.png: 'car' region at x=11, y=9 (1 px): a region too thin for a polygon")


def test_folders_normalises_class_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    image(src / "Red Car" / "a.jpg")
    image(src / "dog" / "b.png")
    (src / "README.txt").write_text("not an image")
    result = cv.import_dataset("folders", src, tmp_path / "out")
    assert result.classes == ("dog", "red_car") and result.task == "classify"
    files = tree(tmp_path / "out")
    assert files["red_car/a.jpg"] == (src / "Red Car" / "a.jpg").read_bytes() and "dog/b.png" in files
    assert [c.source_name for c in Provenance.from_dir(tmp_path / "out").category_map] == ["dog", "Red Car"]


# --- what the snapshot makes of it ---------------------------------------------------------------------


def test_every_imported_tree_snapshots(coco: Path, tmp_path: Path) -> None:
    images = image(tmp_path / "cvat-images" / "frame_000.jpg").parent
    image(images / "frame_001.jpg")
    src = tmp_path / "folders"
    image(src / "cat" / "a.jpg")
    image(src / "dog" / "b.jpg")
    made = {
        "detect": cv.import_dataset("coco", coco, tmp_path / "detect"),
        "segment": cv.import_dataset("cvat", SAMPLES / "cvat" / "annotations.xml", tmp_path / "segment", images=images),
        "classify": cv.import_dataset("folders", src, tmp_path / "classify"),
    }
    for task, result in made.items():
        snap = cv.create_snapshot(
            Project(root=tmp_path / f"project-{task}"), result.dest, snapshot_id="DS-1.0.0", task=task
        )
        assert snap.manifest.stats.images == result.images
        assert tuple(snap.manifest.class_map.values()) == result.classes


# --- refusals: every problem at once, nothing written -------------------------------------------------


def _coco_doc(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 42, "image_id": 1, "category_id": 1, "bbox": [20, 10, 40, 40]}],
    }
    doc.update(changes)
    return doc


@pytest.fixture
def coco_file(tmp_path: Path) -> Path:
    image(tmp_path / "imgs" / "a.jpg")
    return tmp_path / "instances.json"


def test_malformed_json_names_file_line_and_column(coco_file: Path, tmp_path: Path) -> None:
    coco_file.write_text('{"images": [\n  {"id": 1,,}\n]}')
    err = refused("coco", coco_file, tmp_path / "out", images=tmp_path / "imgs")
    assert err.problems[0].startswith("instances.json:2:12: not valid JSON")


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "voc" / "Annotations").mkdir(parents=True)
    image(tmp_path / "voc" / "JPEGImages" / "a.jpg")
    (tmp_path / "voc" / "Annotations" / "a.xml").write_text(
        "<annotation>\n<filename>a.jpg</filename>\n<object>\n</annotation>\n"
    )
    err = refused("voc", tmp_path / "voc", tmp_path / "out")
    assert err.problems == (
        "Annotations/a.xml:4:3: not well-formed XML (mismatched tag); fix the file or export it again",
    )


def test_coco_problems_are_all_listed_with_their_annotation(coco_file: Path, tmp_path: Path) -> None:
    anns = [
        {"id": 42, "image_id": 1, "category_id": 1, "bbox": [20, 10, 0, 40]},  # zero area
        {"id": 43, "image_id": 9, "category_id": 1, "bbox": [20, 10, 40, 40]},  # image_id not in images
        {"id": 44, "image_id": 1, "category_id": 5, "bbox": [20, 10, 40, 40]},  # category not listed
        {"id": 45, "image_id": 1, "category_id": 1, "bbox": [150, 50, 100, 100]},  # outside the image
    ]
    images = [
        {"id": 1, "file_name": "a.jpg", "width": W, "height": H},
        {"id": 2, "file_name": "gone.jpg", "width": W, "height": H},
    ]
    _write(coco_file, _coco_doc(annotations=anns, images=images))
    err = refused("coco", coco_file, tmp_path / "out", images=tmp_path / "imgs")
    text = "\n".join(err.problems)
    assert "instances.json: images[1] (id 2): image file" in text and "gone.jpg does not exist" in text
    assert "instances.json: annotations[0] (id 42): box x=20 y=10 w=0 h=40 has no area" in text
    assert "--drop-invalid" in text
    assert "annotations[1] (id 43): image_id 9 is not in images[]" in text
    assert "annotations[2] (id 44): category_id 5 is not in categories (ids 1)" in text
    assert "annotations[3] (id 45): box x=150 y=50 w=100 h=100 in the 200x100 image reaches outside" in text
    assert "(out-of-bounds: refuse)" in text and "--out-of-bounds clip" in text
    assert len(err.problems) == 5 and "nothing was written" in err.message


def test_out_of_bounds_clip_and_drop_invalid(coco_file: Path, tmp_path: Path) -> None:
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [150, 50, 100, 100]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 10, 0, 40]},
    ]
    _write(coco_file, _coco_doc(annotations=anns))
    result = cv.import_dataset(
        "coco", coco_file, tmp_path / "out", images=tmp_path / "imgs", out_of_bounds="clip", drop_invalid=True
    )
    assert labels(tmp_path / "out") == {"a.txt": ["0 0.875 0.75 0.25 0.5"]}  # (150,50)-(200,100)
    assert result.clipped == {"box": 1} and result.dropped == {"zero-area box": 1}
    assert "clipped to the image: 1 box" in to_text(result) and "dropped: 1 zero-area box" in to_text(result)


def test_empty_and_degenerate_polygons(coco_file: Path, tmp_path: Path) -> None:
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[]]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[0, 0, 10, 10, 20, 20]]},
        {
            "id": 3,
            "image_id": 1,
            "category_id": 1,
            "bbox": [0, 0, 1, 1],
            "segmentation": [[20, 10, 60, 10, 60, 50, 20, 50]],
        },
    ]
    _write(coco_file, _coco_doc(annotations=anns))
    err = refused("coco", coco_file, tmp_path / "out", images=tmp_path / "imgs")
    assert err.problems == (
        "instances.json: annotations[0] (id 1): an empty polygon; fix it in the labelling tool, or pass "
        "--drop-invalid to drop such objects",
        "instances.json: annotations[1] (id 2): a polygon of 3 points with zero area; fix it in the labelling "
        "tool, or pass --drop-invalid to drop such objects",
    )
    cv.import_dataset("coco", coco_file, tmp_path / "out", images=tmp_path / "imgs", drop_invalid=True)
    assert labels(tmp_path / "out") == {"a.txt": ["0 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5"]}


def test_two_images_with_the_same_item_id(coco_file: Path, tmp_path: Path) -> None:
    image(tmp_path / "imgs" / "a.png")
    images = [
        {"id": 1, "file_name": "a.jpg", "width": W, "height": H},
        {"id": 2, "file_name": "a.png", "width": W, "height": H},
    ]
    _write(coco_file, _coco_doc(images=images))
    err = refused("coco", coco_file, tmp_path / "out", images=tmp_path / "imgs")
    assert err.problems == (
        "instances.json: images[1] (id 2): a.png and a.jpg map to the same item id 'a'; "
        "each image needs its own name (without extension)",
    )


def test_labelstudio_same_file_name_from_two_folders(tmp_path: Path) -> None:
    image(tmp_path / "imgs" / "x.jpg")
    box = {"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["car"]}}
    task = {"data": {"image": "/data/upload/1/x.jpg"}, "annotations": [{"id": 1, "result": [box]}]}
    other = {"data": {"image": "/data/upload/2/x.jpg"}, "annotations": [{"id": 2, "result": [box]}]}
    _write(tmp_path / "ls.json", [task, other])
    err = refused("labelstudio", tmp_path / "ls.json", tmp_path / "out", images=tmp_path / "imgs")
    assert err.problems == (
        "ls.json: [1] (task id None): image '/data/upload/2/x.jpg' (looked up by its file name): "
        "x.jpg is listed twice; each image needs its own name (without extension)",
    )


def test_mask_with_an_unknown_colour_names_it_and_a_pixel(tmp_path: Path) -> None:
    _masks(tmp_path / "m", index=False)
    pixels = np.asarray(Image.open(tmp_path / "m" / "masks" / "s.png")).copy()
    pixels[2, 3] = (1, 2, 3)
    Image.fromarray(pixels).save(tmp_path / "m" / "masks" / "s.png")
    err = refused("masks", tmp_path / "m", tmp_path / "out", palette="road=128,64,128;car=0,0,142")
    assert err.problems == (
        "masks/s.png: colour 1,2,3 at pixel x=3, y=2 (1 px) is no class; add it to --palette "
        "NAME=R,G,B or repaint those pixels",
    )


def test_class_folders_that_collide_after_normalising(tmp_path: Path) -> None:
    image(tmp_path / "src" / "Red Car" / "a.jpg")
    image(tmp_path / "src" / "red_car" / "b.jpg")
    err = refused("folders", tmp_path / "src", tmp_path / "out")
    assert "folders 'Red Car', 'red_car' all become class 'red_car'" in err.problems[0]


def test_dest_must_be_new_or_empty_and_is_left_untouched(coco: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="is not empty"):
        cv.import_dataset("coco", coco, dest)
    assert tree(dest) == {"keep.txt": b"mine"}
    (dest / "keep.txt").unlink()
    cv.import_dataset("coco", coco, dest)  # an empty folder is fine
    assert labels(dest) == EXPECTED


def test_options_that_do_not_apply_are_refused(coco: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"--palette does not apply to coco imports \(only to masks\)"):
        cv.import_dataset("coco", coco, tmp_path / "out", palette="road=1,2,3")
    with pytest.raises(DatasetError, match="0,0,0 is the background colour"):
        cv.import_dataset("masks", coco, tmp_path / "out", palette="road=0,0,0")
    with pytest.raises(DatasetError, match="which the import reads"):
        cv.import_dataset("coco", coco, coco / "images" / "out")
    assert not (tmp_path / "out").exists() and not (coco / "images" / "out").exists()


# --- geometry by hand ----------------------------------------------------------------------------------


def test_clipping_keeps_the_inside_part_of_a_polygon() -> None:
    # Triangle (100,50) (300,50) (100,150) in 200x100: the inside part is the square (100,50)-(200,100).
    clipped = clip_polygon([100, 50, 300, 50, 100, 150], 200, 100)
    assert sorted(zip(clipped[0::2], clipped[1::2], strict=True)) == [(100, 50), (100, 100), (200, 50), (200, 100)]
    assert clip_polygon([300, 0, 400, 0, 400, 50], 200, 100) == []


def test_joining_parts_keeps_their_area() -> None:
    a, b = [0, 0, 10, 0, 10, 10, 0, 10], [20, 0, 30, 0, 30, 10, 20, 10]
    assert polygon_area(join_parts([a, b])) == pytest.approx(200)


# --- the command ---------------------------------------------------------------------------------------


def test_cli_import(coco: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    r = run(cli, ["data", "import", "coco", str(coco), str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "imported coco export" in r.output and "3 images, 3 objects (detect)" in r.output
    assert "classes: 0=cat, 1=dog, 2=zebra" in r.output
    r = run(cli, ["data", "import", "coco", str(coco), str(tmp_path / "out")])
    assert r.exit_code == 2 and "is not empty" in r.output and "Traceback" not in r.output


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
