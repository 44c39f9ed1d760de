"""promptrec.config_reference: docs/configuration.md is what the pydantic sections say, and stays so."""

from pathlib import Path

from promptrec.config import PipelineConfig
from promptrec.config_reference import reference

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_the_committed_page_is_the_generated_one():
    assert PAGE.read_text(encoding="utf-8") == reference(), (
        "docs/configuration.md is stale: python -m promptrec.config_reference > docs/configuration.md")


def test_every_section_and_field_is_on_the_page():
    page = reference()
    for name, info in PipelineConfig.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            assert f"## `[{name}]`" in page
            for field in section.model_fields:
                assert f"| `{field}` |" in page, f"{name}.{field}"
        else:
            assert f"| `{name}` |" in page
    assert '| `mode` | str | `"generate"` |' in page
