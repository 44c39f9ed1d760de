"""The README's Python example: a catalog from a DataFrame, a history by titles, the ranking as a DataFrame."""

import pandas as pd

from promptrec import Catalog, PipelineConfig

items = pd.DataFrame({"id": ["m1", "m2", "m3", "m4", "m5", "m6"],
                      "title": ["The Matrix", "Toy Story", "Alien", "Aliens", "Finding Nemo", "Blade Runner"],
                      "genres": ["Action|Sci-Fi", "Animation", "Horror|Sci-Fi", "Action|Horror|Sci-Fi", "Animation", "Sci-Fi"]})
catalog = Catalog.from_pandas(items)
recommender = PipelineConfig.from_dict({"retrieval": {"pool": 4}}).make_recommender(catalog)
ranking = recommender.recommend(catalog.history(["The Matrix", "Alien"]), k=3)
print(ranking.to_pandas()[["rank", "item_id", "title", "retrieval_score", "llm_score"]])
