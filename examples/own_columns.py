"""Files with your own column names: a TSV catalog and CSV interactions, read as they are.

    python examples/own_columns.py

Writes two small files into a temporary folder, then reads them with promptrec.Columns (the same names
the command line takes as --id-col --title-col --text-cols --user-col --item-col --time-col).
"""

import tempfile
from pathlib import Path

from promptrec import Columns, Recommender, read_catalog
from promptrec.retrieval import CooccurrenceRetriever, read_interactions

folder = Path(tempfile.mkdtemp(prefix="promptrec-example-"))
(folder / "products.tsv").write_text(
    "sku\tname\tbrand\tcategory\tinternal_note\n"
    "p1\tTrail running shoes\tAcme\tShoes\tx\n"
    "p2\tRunning socks\tAcme\tSocks\tx\n"
    "p3\tRain jacket\tNorth\tJackets\tx\n"
    "p4\tHead torch\tLumo\tLights\tx\n"
    "p5\tWater bottle\tAcme\tBottles\tx\n"
)
(folder / "orders.csv").write_text(
    "customer,sku,ordered_at\n"
    "c1,p1,2024-05-01\nc1,p2,2024-05-03\nc1,p5,2024-05-09\n"
    "c2,p1,2024-06-01\nc2,p2,2024-06-02\n"
    "c3,p3,2024-06-05\nc3,p4,2024-06-07\n"
)

columns = Columns(id="sku", title="name", text=["brand", "category"], user="customer", item="sku",
                  time="ordered_at")
catalog = read_catalog(folder / "products.tsv", columns)
print("attributes kept:", dict(catalog["p1"].attributes))

interactions = read_interactions(folder / "orders.csv", catalog, columns)
recommender = Recommender(CooccurrenceRetriever(catalog, interactions), pool=3)
ranking = recommender.recommend(catalog.history(["Trail running shoes"]), k=2)
for ranked in ranking:
    print(ranked.rank, ranked.item.id, ranked.item.title, round(ranked.retrieval_score, 3))
