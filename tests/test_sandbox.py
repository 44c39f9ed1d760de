"""The template sandbox's budget: every way a template can hang or exhaust memory ends in a clear error."""

import threading

import jinja2
import pytest

from promptrec.errors import ScenarioError
from promptrec.sandbox import (
    MAX_RENDER_CHARS,
    BudgetedSandbox,
    TemplateBudgetError,
    render_budgeted,
)

TEN = "[1,2,3,4,5,6,7,8,9,10]"

#: (name, template): each must end in TemplateBudgetError, not a hang, a MemoryError or a crash
BOMBS = [
    ("lipsum", "{{ lipsum(10**6) }}"),
    ("huge power", "{{ 9**99999999 }}"),
    ("huge power in a variable", "{% set n = 99999999 %}{{ 9**n }}"),
    ("huge product", "{{ (2**4000) * (2**4000) }}"),
    ("huge range", "{% for i in range(10**9) %}x{% endfor %}"),
    ("sliced ranges still count", "{% for i in range(1000000)[:] %}{% for j in range(1000000)[::1] %}{% endfor %}{% endfor %}"),
    ("nested ranges", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
    ("string times a huge int", "{{ 'a'*10**10 }}"),
    ("list times a huge int", "{{ ([1]*10**10)|length }}"),
    ("int times a string", "{{ 10**10 * 'a' }}"),
    ("doubling strings", "{% set a = 'x'*1000000 %}{{ (a ~ a) * 2 }}"),
    ("recursive macro", "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}"),
    ("self include", "{% include 'self.j2' %}"),
    ("nested loops that call nothing", "".join("{% for x" + str(i) + " in " + TEN + " %}" for i in range(9))
     + "{% endfor %}" * 9),
    ("output too long", "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}"),
    ("percent format width", "{{ '%1000000000d'|format(1) }}"),
    ("percent operator width", "{{ '%1000000000d' % 1 }}"),
    ("str.format width", "{{ '{:>1000000000}'.format(1) }}"),
    ("center", "{{ 'a'|center(10**9) }}"),
    ("indent", "{{ 'a\nb'|indent(10**9) }}"),
]


@pytest.fixture(scope="module")
def env():
    loader = jinja2.DictLoader({"self.j2": "{% include 'self.j2' %}"})
    return BudgetedSandbox(loader=loader, undefined=jinja2.StrictUndefined)


@pytest.mark.parametrize(("name", "source"), BOMBS, ids=[name for name, _ in BOMBS])
def test_every_bomb_ends_in_a_budget_error(env, name, source):
    with pytest.raises(TemplateBudgetError) as info:
        render_budgeted(env.from_string(source), {}, seconds=0.5)
    assert isinstance(info.value, ScenarioError) and str(info.value)


#: ordinary templates render exactly as before
FINE = [
    ("loop", "{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
    ("small power", "{{ 2**10 }}", "1024"),
    ("string repeat", "{{ '-' * 5 }}", "-----"),
    ("concatenation", "{{ 'a' + 'b' }}", "ab"),
    ("modulo", "{{ 7 % 3 }} {{ '%05d' % 42 }}", "1 00042"),
    ("format", "{{ '{:>4}'.format(7) }}|{{ '%-3s|'|format('a') }}", "   7|a  |"),
    ("filters", "{{ ['b', 'a']|sort|join(',') }} {{ 'ab'|upper }} {{ range(5)|list|length }}", "a,b AB 5"),
    ("lipsum, small", "{{ lipsum(1, html=False)|length > 10 }}", "True"),
    ("macro", "{% macro f(x) %}[{{ x }}]{% endmacro %}{{ f(1) }}{{ f(2) }}", "[1][2]"),
    ("range as a sequence", "{{ range(10)[2] }} {{ range(10)[1:4]|list }} {{ 3 in range(5) }} {{ range(3)|reverse|join }}",
     "2 [1, 2, 3] True 210"),
]


@pytest.mark.parametrize(("name", "source", "expected"), FINE, ids=[name for name, _, _ in FINE])
def test_ordinary_templates_render_as_usual(env, name, source, expected):
    assert render_budgeted(env.from_string(source), {}) == expected


def test_the_budget_is_per_render_and_per_thread(env):
    template = env.from_string("{% for i in range(600000) %}{% endfor %}ok")
    assert render_budgeted(template, {}) == "ok"  # 600,000 range items: within one render's budget
    assert render_budgeted(template, {}) == "ok"  # the next render starts afresh
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(render_budgeted(template, {}))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok"] * 3


def test_a_render_after_an_interrupted_one_is_not_interrupted(env):
    bomb = env.from_string(dict(BOMBS)["nested loops that call nothing"])
    with pytest.raises(TemplateBudgetError, match="CPU time"):
        render_budgeted(bomb, {}, seconds=0.3)
    fine = env.from_string("{% for i in range(200) %}{{ i }}{% endfor %}")
    for _ in range(50):  # no interrupt meant for the first render lands in these
        assert len(render_budgeted(fine, {})) > 200


def test_output_cap_is_exact(env):
    at_cap = env.from_string("{{ 'z' * n }}")
    assert len(render_budgeted(at_cap, {"n": MAX_RENDER_CHARS})) == MAX_RENDER_CHARS
    with pytest.raises(TemplateBudgetError):
        render_budgeted(at_cap, {"n": MAX_RENDER_CHARS + 1})
