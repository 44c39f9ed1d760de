"""DataFrames in, DataFrames out: a catalog from pandas, one user's ranking as a table, many users at once.

    python examples/dataframes.py

Offline and model-free: the pipeline's semantic retriever (wordllama embeddings, shipped with the package)
ranks, and the bundled LLM is not asked (its measured weight is 0).
"""

import pandas as pd

from promptrec import Catalog, PipelineConfig
from promptrec.frames import recommend_many

items = pd.DataFrame(
    {
        "movie": ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"],
        "name": ["The Matrix", "Toy Story", "Alien", "Blade Runner", "Finding Nemo", "Aliens", "Up", "Arrival"],
        "genres": ["Action|Sci-Fi", "Animation|Family", "Horror|Sci-Fi", "Sci-Fi|Thriller",
                   "Animation|Family", "Action|Horror|Sci-Fi", "Animation|Family", "Drama|Sci-Fi"],
        "year": [1999, 1995, 1979, 1982, 2003, 1986, 2009, 2016],
    }
)
catalog = Catalog.from_pandas(items, id_col="movie", title_col="name")
recommender = PipelineConfig.from_dict({"retrieval": {"pool": 5}}).make_recommender(catalog)

# one user, history given as titles or ids
ranking = recommender.recommend(catalog.history(["The Matrix", "m3"]), k=3)
print(ranking.to_pandas()[["rank", "item_id", "title", "retrieval_score"]].to_string(index=False))

# many users: a long interactions table in, a long recommendations table out
interactions = pd.DataFrame({"user_id": ["ann", "ann", "bob"], "item_id": ["m1", "m3", "Toy Story"]})
table = recommend_many(recommender, interactions, k=2)
print(table[["user_id", "rank", "item_id", "title"]].to_string(index=False))
