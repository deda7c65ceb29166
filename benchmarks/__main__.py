"""`python -m benchmarks`: run every figure and print one table of figure · baseline · ratio.

A figure is any `benchmarks/<name>.py` (not starting with `_`) that defines `run_figure() -> Figure`.
Each script also runs alone: `python -m benchmarks.<name> --help`.

    python -m benchmarks [--only NAME ...]
"""

import argparse
import importlib
import pkgutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks._figure import Figure

HERE = Path(__file__).resolve().parent


def figures() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these figures")
    args = parser.parse_args()
    console = Console()
    table = Table(title="Doorstep benchmarks")
    for column in ("figure", "value", "baseline", "ratio", "notes"):
        table.add_column(column, justify="right" if column in ("value", "baseline", "ratio") else "left")
    for name in figures():
        if args.only and name not in args.only:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        run_figure = getattr(module, "run_figure", None)
        if run_figure is None:
            continue
        console.print(f"running {name} …")
        figure = run_figure()
        assert isinstance(figure, Figure)
        table.add_row(
            figure.name,
            f"{figure.value:,.0f} {figure.unit}",
            f"{figure.baseline_name} {figure.baseline:,.0f} {figure.unit}",
            f"{figure.ratio:.2f}",
            figure.note,
        )
    console.print(table)


if __name__ == "__main__":
    main()
