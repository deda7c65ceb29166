"""Rows an import could not take, with file, line and reason, written as CSV for the merchant to fix.

The file has a header and one row per reject: ``file,line,reason``. ``line`` is the 1-based line of the
input file where the rejected record starts (the header is line 1), so it can be opened in an editor.
"""

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    reason: str


class Rejects:
    """Collects rejects during a run; :meth:`write` saves them (only when there are any)."""

    def __init__(self) -> None:
        self.items: list[Reject] = []

    def add(self, file: str | Path, line: int, reason: str) -> None:
        self.items.append(Reject(Path(file).name, line, reason))

    def __len__(self) -> int:
        return len(self.items)

    def write(self, path: Path) -> Path | None:
        """Write the rejects to ``path`` (or, when that folder is read-only, the current directory)."""
        if not self.items:
            return None
        for target in (path, Path.cwd() / path.name):
            try:
                with target.open("w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(("file", "line", "reason"))
                    writer.writerows((r.file, r.line, r.reason) for r in self.items)
            except OSError:
                continue
            return target
        raise OSError(f"cannot write the rejects file {path} (nor in the current directory)")


def default_path(source: Path) -> Path:
    """``orders.csv`` → ``orders.rejects.csv`` beside it; a folder ``olist/`` → ``olist.rejects.csv``."""
    source = source.resolve()
    stem = source.name if source.is_dir() else source.stem
    return source.parent / f"{stem}.rejects.csv"


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and records of a CSV file, each record with the line it starts on."""
    records: list[tuple[int, list[str]]] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        previous = reader.line_num
        for row in reader:
            records.append((previous + 1, row))
            previous = reader.line_num
    return header, records
