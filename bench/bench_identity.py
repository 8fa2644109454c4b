#!/usr/bin/env python3
"""What id rule 2 costs: identity keys per CPU-second, and HTML pages per CPU-second through
`parse_html` + `build_record` (address and outlet discovery included). Runs in well under a minute.

    python bench/bench_identity.py
    PYTHONPATH=../main python bench/bench_identity.py   # the same pages through another checkout

CPU time (process_time), best of 3: the machine is shared and wall-clock is noisy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout given there is the one measured

from tests.extract.test_html import ARTICLE_FR, html_page  # noqa: E402
from toolkit.extract.html import parse_html  # noqa: E402
from toolkit.extract.records import build_record  # noqa: E402

PAGES = 300
URLS = 20_000


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    import toolkit

    print(f"toolkit from {Path(toolkit.__file__).parent.parent}")
    try:
        from toolkit.extract.ids import identity_key, registered_domain
    except ImportError:
        identity_key = None
    if identity_key is not None:
        urls = [f"http://www.site{i % 50}.ma/cat/article-{i}/?utm_source=x&id={i}#c" for i in range(URLS)]

        def keys() -> None:
            identity_key.cache_clear()
            registered_domain.cache_clear()
            for url in urls:
                identity_key(url)

        print(f"identity_key: {URLS / best_of(3, keys):,.0f} URLs per CPU-second (cache cleared each run)")
    pages = [html_page(title=f"Titre numéro {i} : la ville vote son budget",
                       paragraphs=[f"{p} ({i})" for p in ARTICLE_FR] * 4,
                       canonical=f"https://www.medias24.example/2021/01/28/article-{i}/").encode()
             for i in range(PAGES)]
    fetched = "http://medias24.example/?p=1&utm_source=x"
    for page in pages[:20]:
        build_record(parse_html(page, url=fetched))

    def parse() -> None:
        for page in pages:
            build_record(parse_html(page, url=fetched))

    seconds = best_of(3, parse)
    print(f"parse_html + build_record: {PAGES / seconds:,.0f} pages per CPU-second "
          f"({seconds / PAGES * 1000:.2f} ms per page, {PAGES} pages of about 3 KB)")


if __name__ == "__main__":
    main()
