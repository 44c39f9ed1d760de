"""Shared by the backend tests (test_backends_llamacpp.py, test_backends_openai.py): one chat and one grammar."""

MESSAGES = [
    {"role": "system", "content": "You rank movies."},
    {"role": "user", "content": "Which is better, [A] \"Alien\" or [B] \"Up\"? Answer with a label."},
]
CHOICE = 'root ::= "[A] > [B]" | "[B] > [A]"'
