"""A worked example of promptrec's cross-domain format, from public data: the Amazon Books / CDs / Movies
ratings of the RecSys'24 files (McAuley's 2014 Amazon reviews) rewritten as one folder per domain.

    python eval/crossdomain_example.py                     # writes eval/results/crossdomain-amazon/
    python eval/crossdomain_example.py --single            # one items.csv + interactions.csv with a domain column
    promptrec eval -d crossdomain:eval/results/crossdomain-amazon:cds:books --no-llm -n 200

Each domain folder gets ``items.csv`` (id, title, author/artist, genres) and ``interactions.csv``
(user_id, item_id, timestamp, rating), the format documented in eval/README.md. Any other data in the usual
user,item,rating,timestamp form (e.g. Amazon 2018 Grocery and Kitchen) goes in the same way.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptrec.evaluation.crossdomain import DOMAIN_INFO, CrossDomainData, _domain_files, _read_recsys24  # noqa: E402
from promptrec.evaluation.files import default_data_dir  # noqa: E402


def write(out: Path, data_dir: Path, single: bool) -> dict[str, int]:
    """Write the example folder; returns rows written per file."""
    root = data_dir / "amazon_books_cds_movies_recsys24"
    data = CrossDomainData(items={}, domain_of={}, events=[])
    ratings: list[tuple[str, str, str, str]] = []
    for domain in DOMAIN_INFO:
        for file in _domain_files(root, domain):
            before = len(data.events)
            _read_recsys24(file, domain, data)
            ratings += [(u, i, f"{t:.0f}", domain) for u, i, t in data.events[before:]]
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    out.mkdir(parents=True, exist_ok=True)

    def item_row(item_id: str) -> list[str]:
        item = data.items[item_id]
        attributes = item.attributes
        person = str(attributes.get("author") or attributes.get("artist") or "")
        return [item.id, item.title, person, "|".join(attributes.get("genres", []))]

    domains = list(DOMAIN_INFO) if not single else [None]
    for domain in domains:
        folder = out / domain if domain else out
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "items.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "title", "creator", "genres"] + (["domain"] if single else []))
            n = 0
            for item_id, item_domain in data.domain_of.items():
                if domain is None or item_domain == domain:
                    writer.writerow(item_row(item_id) + ([item_domain] if single else []))
                    n += 1
            counts[str(folder / "items.csv")] = n
        with (folder / "interactions.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user_id", "item_id", "timestamp"] + (["domain"] if single else []))
            n = 0
            for user_id, item_id, timestamp, item_domain in ratings:
                if (domain is None or item_domain == domain) and (user_id, item_id) not in seen:
                    seen.add((user_id, item_id))
                    writer.writerow([user_id, item_id, timestamp] + ([item_domain] if single else []))
                    n += 1
            counts[str(folder / "interactions.csv")] = n
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "eval" / "results" / "crossdomain-amazon"))
    parser.add_argument("--data-dir", default=str(default_data_dir()))
    parser.add_argument("--single", action="store_true", help="one items.csv + interactions.csv with a domain column")
    args = parser.parse_args()
    for path, n in write(Path(args.output), Path(args.data_dir), args.single).items():
        print(f"{path}: {n} rows")
    print(f"now: promptrec eval -d crossdomain:{args.output}:cds:books --no-llm -n 200")


if __name__ == "__main__":
    main()
