"""Section splitting and mkdocs anchors on real pages of the Safespring docs."""

from __future__ import annotations

import pytest

from harness.shared_data import DOCS
from knowledge.ingest import is_redirect_stub, load_tree, page_url, parse_page, slugify, unique

CONTENT = DOCS / "content"

pytestmark = pytest.mark.skipif(not CONTENT.is_dir(), reason="shared docs corpus not present")


def _page(rel: str):
    return parse_page(rel, (CONTENT / rel).read_text(encoding="utf-8"))


def test_slugify_and_unique_match_python_markdown_toc() -> None:
    assert slugify("Flavor types") == "flavor-types"
    assert slugify("b2. and l2. flavors") == "b2-and-l2-flavors"
    assert slugify("Scenario #1—Correct password but authentication still fails?") == (
        "scenario-1correct-password-but-authentication-still-fails"
    )
    assert slugify("Why can't I delete filespaces from the client?") == (
        "why-cant-i-delete-filespaces-from-the-client"
    )
    assert slugify("Security group rule with unspecified remote_ip_prefix opens up all ports") == (
        "security-group-rule-with-unspecified-remote_ip_prefix-opens-up-all-ports"
    )
    assert slugify("Åtkomst för användare") == "atkomst-for-anvandare"
    ids: set[str] = set()
    assert [unique(x, ids) for x in ["a", "a", "a", "a_1", ""]] == ["a", "a_1", "a_2", "a_3", "_1"]


def test_duplicate_headings_get_mkdocs_suffixes() -> None:
    page = _page("compute/volume.md")
    anchors = [(s.heading, s.anchor) for s in page.sections if s.heading]
    dashboard = [a for h, a in anchors if h == "Using the Horizon dashboard"]
    # The heading is "Using the [Horizon dashboard](sites.md)": link syntax is stripped first.
    assert dashboard[:3] == [
        "using-the-horizon-dashboard",
        "using-the-horizon-dashboard_1",
        "using-the-horizon-dashboard_2",
    ]
    keypairs = _page("compute/howto/keypairs.md")
    linux = [s for s in keypairs.sections if s.heading == "Linux and macOS"]
    assert [s.anchor for s in linux] == ["linux-and-macos", "linux-and-macos_1"]
    assert linux[1].heading_path == ["Connect to an instance", "Linux and macOS"]
    assert linux[1].url("https://docs.safespring.com/") == (
        "https://docs.safespring.com/compute/howto/keypairs/#linux-and-macos_1"
    )


def test_h1_takes_an_id_so_a_same_named_h2_gets_suffix() -> None:
    # toc numbers every heading of the page, the h1 included.
    page = parse_page("x.md", "# Flavors\n\nintro\n\n## Flavors\n\ntext\n")
    assert page.title == "Flavors"
    assert page.sections[0].heading is None and page.sections[0].text == "intro"
    assert page.sections[1].anchor == "flavors_1"


def test_hash_in_code_fence_is_not_a_heading() -> None:
    page = _page("compute/howto/convert-l-to-b-flavor-but-keep-ip.md")
    headings = [s.heading for s in page.sections]
    assert "Name of new instance" not in headings
    assert "HANDLE OLD INSTANCE STUFF" not in headings
    assert any("## Name of new instance" in s.code for s in page.sections)
    assert all("new_instance_name" not in s.text for s in page.sections)


def test_setext_headings_and_inline_html_in_heading() -> None:
    page = _page("service/audit_logging.md")
    assert page.title == "Audit logging"
    assert [s.heading for s in page.sections[1:]] == ["s3", "Retrieving log data"]
    reports = _page("backup/howto/reports-by-email.md")
    assert reports.title == "Receive Backup Reports via Email"
    ds = [s.anchor for s in reports.sections if s.heading == "Data-source status settings"]
    # `### <a name="data-source"></a> Data-source status settings`: raw HTML dropped.
    assert ds == ["data-source-status-settings", "data-source-status-settings_1"]


def test_admonitions_links_and_html_are_plain_text() -> None:
    page = _page("compute/flavors.md")
    text = "\n".join(s.text for s in page.sections)
    assert "!!!" not in text
    assert "](" not in text and "<strong>" not in text
    assert "The first number in the flavor name" in text
    assert "API Access documentation" in text  # link text kept, target dropped


def test_front_matter_and_meta_are_not_text() -> None:
    src = "---\ntitle: Hello\ntags: [a]\n---\n# Real title\n\nBody.\n"
    page = parse_page("a/b.md", src)
    assert page.title == "Real title"
    assert "tags" not in page.sections[0].text
    meta = parse_page("a/c.md", "title: Meta\nauthor: x\n\n# Heading\n\nBody text.\n")
    assert meta.title == "Heading" and "author" not in meta.sections[0].text


def test_redirect_stubs_skipped_and_urls() -> None:
    stub = (CONTENT / "legacy-backup/api.md").read_text(encoding="utf-8")
    assert is_redirect_stub(stub)
    pages = load_tree(DOCS)
    paths = {p.path for p in pages}
    assert not any(p.startswith("legacy-backup/") for p in paths)
    assert "compute/flavors.md" in paths and "index.md" in paths
    assert page_url("https://docs.safespring.com/", "compute/flavors.md") == (
        "https://docs.safespring.com/compute/flavors/"
    )
    assert page_url("https://docs.safespring.com/", "index.md") == "https://docs.safespring.com/"
    assert page_url("https://docs.safespring.com", "backup/security-compliance/index.md") == (
        "https://docs.safespring.com/backup/security-compliance/"
    )


def test_html_blocks_keep_only_visible_text() -> None:
    src = (
        '# T\n\n<!-- editor note -->\n\n<div class="x">Visible <b>bold</b> &amp; more</div>\n\n'
        "<script>var secret = 1;</script>\n\nSee [the docs](https://x.example/a) and <br> ok.\n"
    )
    text = parse_page("t.md", src).sections[0].text
    assert "Visible bold & more" in text and "See the docs and ok." in text
    assert "editor note" not in text and "secret" not in text and "https://" not in text
