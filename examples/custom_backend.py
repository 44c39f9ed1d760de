"""A backend of your own in a dozen lines: the Ranker renders the prompt, your code answers it.

    python examples/custom_backend.py

This toy backend answers every prompt by listing the candidate labels in reverse; a real one would call
your model server. promptrec parses the answer, repairs it into a valid ranking and reports what it did.
"""

import re

from promptrec import BaseBackend, Completion, Item, Ranker, register_backend


class ReverseBackend(BaseBackend):
    """Answers with the prompt's candidate labels, last first."""

    def __init__(self, model: str | None = None) -> None:
        self.name = f"reverse:{model or 'toy'}"

    def complete(self, messages, params):
        labels = re.findall(r"^\[([A-Z])\]", messages[-1]["content"], flags=re.MULTILINE)
        return Completion(text=" > ".join(f"[{label}]" for label in reversed(labels)), model=self.name)


register_backend("reverse", ReverseBackend)

history = [Item(id="m01", title="The Matrix", attributes={"year": 1999, "genres": ["Action", "Sci-Fi"]})]
candidates = [
    Item(id="m12", title="Up", attributes={"year": 2009}),
    Item(id="m14", title="Inception", attributes={"year": 2010}),
    Item(id="m22", title="Interstellar", attributes={"year": 2014}),
]
ranker = Ranker("reverse", "movies", shuffle=False, cache=None)
ranking = ranker.rank(history, candidates)
print(ranking.raw)
print(ranking.ids())
print(ranking.report.format, ranking.report.valid)
