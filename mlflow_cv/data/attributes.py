"""Image attributes and slices (DESIGN §2a): ``time_of_day=night``, ``camera=cam_b`` per image.

Attributes come from a sidecar file keyed by the image's relative path (``--attributes FILE``: CSV with a
``path`` column and one column per attribute, or JSONL with a ``path`` key) and from path rules
(``--attr NAME=VALUE:GLOB``, e.g. ``time_of_day=night:**/night/**``). The manifest keeps them as
``attributes``: attribute name → item id → value, part of its hash. A *slice* is one attribute value,
written ``ATTR:VALUE`` everywhere (CLI, metric names, policies, reports).

Every problem of a file is reported at once, naming the file and line: a path that is not an image of
the snapshot, a duplicate row, a bad name or value, a bad encoding, or a rule and a row that disagree.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow_cv.errors import DatasetError

__all__ = [
    "NAME_RE",
    "VALUE_RE",
    "AttrRule",
    "Slice",
    "collect_attributes",
    "read_attributes_file",
    "slice_counts",
]

NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
VALUE_RE = re.compile(r"[A-Za-z0-9_.-]+")
Attributes = dict[str, dict[str, str]]  # attribute → item id → value


@dataclass(frozen=True, order=True)
class Slice:
    """One attribute value: ``time_of_day:night``."""

    attr: str
    value: str

    def __str__(self) -> str:
        return f"{self.attr}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Slice:
        attr, sep, value = text.partition(":")
        if not sep or not NAME_RE.fullmatch(attr) or not VALUE_RE.fullmatch(value):
            raise DatasetError(f"slice {text!r}: expected ATTR:VALUE, e.g. time_of_day:night")
        return cls(attr, value)


@dataclass(frozen=True)
class AttrRule:
    """``NAME=VALUE:GLOB``: every image whose relative path matches GLOB gets NAME=VALUE."""

    name: str
    value: str
    glob: str

    @classmethod
    def parse(cls, text: str) -> AttrRule:
        head, sep, glob = text.partition(":")
        name, eq, value = head.partition("=")
        if not (sep and eq and glob) or not NAME_RE.fullmatch(name) or not VALUE_RE.fullmatch(value):
            raise DatasetError(
                f"--attr {text!r}: expected NAME=VALUE:GLOB with NAME like {NAME_RE.pattern} and VALUE like "
                f"{VALUE_RE.pattern}, e.g. --attr 'time_of_day=night:**/night/**'"
            )
        return cls(name, value, glob)

    def matches(self, path: str) -> bool:
        return _glob_regex(self.glob).fullmatch(path) is not None


def _glob_regex(glob: str) -> re.Pattern[str]:
    """``**/`` any folders (or none), ``**`` anything, ``*`` within one name, ``?`` one character."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def read_attributes_file(path: Path) -> list[tuple[int, str, dict[str, str]]]:
    """The rows of a CSV or JSONL attributes file: (line, image path, {attribute: value}); an empty CSV
    cell means no value. Raises :class:`DatasetError` with every problem (``file:line: …``)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text (byte {exc.start}); save the attributes file as UTF-8") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the attributes file: {exc.strerror}") from None
    rows: list[tuple[int, str, dict[str, str]]] = []
    problems: list[str] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{n}: not JSON ({exc.msg})")
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("path"), str):
                problems.append(f'{path}:{n}: expected an object with a "path" string')
                continue
            values = {k: v for k, v in doc.items() if k != "path"}
            if bad := sorted(k for k, v in values.items() if not isinstance(v, str)):
                problems.append(f"{path}:{n}: values must be strings ({', '.join(bad)})")
                continue
            rows.append((n, doc["path"], values))
    elif path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header or "path" not in header:
            raise DatasetError(f"{path}:1: a CSV attributes file starts with a header naming a 'path' column")
        if len(set(header)) != len(header):
            raise DatasetError(f"{path}:1: a column is named twice in {header}")
        for record in reader:
            n = reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                problems.append(f"{path}:{n}: {len(record)} cells, the header has {len(header)}")
                continue
            doc = dict(zip(header, record, strict=True))
            rows.append((n, doc.pop("path"), {k: v for k, v in doc.items() if v != ""}))
    else:
        raise DatasetError(f"{path}: attributes files are .csv (a 'path' column) or .jsonl (a \"path\" key)")
    for n, _, values in rows:
        for name, value in values.items():
            if not NAME_RE.fullmatch(name):
                problems.append(f"{path}:{n}: attribute name {name!r} is not like {NAME_RE.pattern}")
            elif not VALUE_RE.fullmatch(value):
                problems.append(f"{path}:{n}: {name}={value!r} is not like {VALUE_RE.pattern}")
    if problems:
        raise DatasetError(f"{path}: {len(problems)} problem(s) in the attributes file", problems=problems)
    return rows


def collect_attributes(
    images: Mapping[str, str], *, files: Sequence[Path] = (), rules: Sequence[AttrRule] = ()
) -> Attributes:
    """Attribute → item id → value for the snapshot's ``images`` (image path → item id), from the rows
    of ``files`` and the path ``rules``. Raises :class:`DatasetError` with every problem."""
    found: Attributes = {}
    origin: dict[tuple[str, str], str] = {}  # (attribute, image path) → where its value came from
    problems: list[str] = []

    def put(where: str, image: str, name: str, value: str) -> None:
        have = found.setdefault(name, {}).get(images[image])
        if have is not None and have != value:
            problems.append(
                f"{where}: {image} {name}={value} disagrees with {name}={have} from {origin[(name, image)]}"
            )
            return
        found[name][images[image]] = value
        origin[(name, image)] = where

    for file in files:
        seen: dict[str, int] = {}
        for n, image, values in read_attributes_file(file):
            where = f"{file}:{n}"
            if image not in images:
                problems.append(f"{where}: {image} is not an image of this snapshot (paths are relative to SOURCE)")
            elif image in seen:
                problems.append(f"{where}: {image} is listed again (first on line {seen[image]})")
            else:
                seen[image] = n
                for name, value in values.items():
                    put(where, image, name, value)
    for rule in rules:
        matched = [image for image in images if rule.matches(image)]
        if not matched:
            problems.append(f"--attr {rule.name}={rule.value}:{rule.glob}: matches no image of this snapshot")
        for image in matched:
            put(f"--attr {rule.name}={rule.value}:{rule.glob}", image, rule.name, rule.value)
    if problems:
        raise DatasetError(
            f"{len(problems)} problem(s) with the image attributes; nothing was written", problems=problems
        )
    return {name: dict(sorted(values.items())) for name, values in sorted(found.items())}


def slice_counts(
    attributes: Mapping[str, Mapping[str, str]], splits: Mapping[str, Iterable[str]]
) -> dict[Slice, dict[str, int]]:
    """Images per slice and split (plus ``all``); a split with none of a slice's images counts 0 there."""
    of_split = {item: name for name, items in splits.items() for item in items}
    counts: dict[Slice, dict[str, int]] = {}
    for name, values in sorted(attributes.items()):
        for item, value in values.items():
            row = counts.setdefault(Slice(name, value), {"all": 0, **{s: 0 for s in splits}})
            row["all"] += 1
            row[of_split[item]] += 1
    return dict(sorted(counts.items()))
