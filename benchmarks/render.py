"""E-mails rendered per second: the whole template path next to MJML + inlining alone.

Doorstep: the shipped "shipped" e-mail in Brazilian Portuguese through ``render.render_source``: the Jinja
sandbox fills the layout twice (HTML and plain text) and the subject block, and mrml turns the MJML into
HTML (no web fonts), inlining the ``<mj-style inline="inline">`` rules.

Baseline in the same run: the same, already filled MJML through mrml only, which is the cost of producing
responsive HTML at all; the ratio shows what the sandbox and the text part add.

    python -m benchmarks.render [--emails 500]
"""

import argparse
import time

import mrml

from benchmarks._figure import Figure
from doorstep.integrations.channels.protocol import Kind
from doorstep.messaging import render
from doorstep.messaging.context import sample_context


def measure(emails: int) -> tuple[float, float]:
    context = sample_context(base_url="https://track.example", locale="pt_BR", milestone="shipment.shipped")
    source = render.default_source("shipment.shipped", Kind.email, "pt_BR")
    render.render_source(source, kind=Kind.email, locale="pt_BR", context=context)  # warm the caches
    started = time.perf_counter()
    for _ in range(emails):
        render.render_source(source, kind=Kind.email, locale="pt_BR", context=context)
    full = emails / (time.perf_counter() - started)

    filled = render._compile(source.body, autoescape=True, part="body").render(
        render._variables(render._data(context), "pt_BR", render.HTML_LAYOUT)
    )
    options = mrml.RenderOptions(disable_comments=True, fonts={})
    started = time.perf_counter()
    for _ in range(emails):
        mrml.to_html(filled, render_options=options)
    baseline = emails / (time.perf_counter() - started)
    return full, baseline


def run_figure(emails: int = 500) -> Figure:
    full, baseline = measure(emails)
    return Figure("email render", full, "emails/s", baseline, "mrml only", f"{emails} e-mails")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=500)
    args = parser.parse_args()
    figure = run_figure(args.emails)
    print(
        f"render {figure.value:,.0f} emails/s · {figure.baseline_name} {figure.baseline:,.0f} emails/s · "
        f"ratio {figure.ratio:.2f}"
    )


if __name__ == "__main__":
    main()
