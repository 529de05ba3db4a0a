"""Turn an mkdocs docs tree into searchable sections.

A real Markdown parser (markdown-it-py) finds the headings, so `#` lines inside code fences and
indented code never split a page, and setext headings do. Anchors are computed the way
Python-Markdown's `toc` extension computes them, because the deep links must land on the same
`id` that mkdocs renders.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator, MutableSet
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

# --- mkdocs `toc` anchors -------------------------------------------------------------------

_IDCOUNT_RE = re.compile(r"^(.*)_([0-9]+)$")
_TAG_RE = re.compile(r"<[^>]*>")


def slugify(value: str, separator: str = "-") -> str:
    """Python-Markdown's `toc.slugify` (non-unicode mode, the mkdocs default)."""
    value = unicodedata.normalize("NFKD", value)
    value = value.encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(rf"[{separator}\s]+", separator, value)


def unique(id_: str, ids: MutableSet[str]) -> str:
    """Python-Markdown's `toc.unique`: append `_1`, `_2`... until the id is free."""
    while id_ in ids or not id_:
        m = _IDCOUNT_RE.match(id_)
        if m:
            id_ = f"{m.group(1)}_{int(m.group(2)) + 1}"
        else:
            id_ = f"{id_}_1"
    ids.add(id_)
    return id_


# --- data -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Section:
    """One heading's worth of a page (or the page's top when `heading` is None)."""

    path: str  # relative to the docs' content folder, e.g. "compute/flavors.md"
    page_title: str
    heading: str | None
    heading_path: list[str]
    anchor: str | None
    level: int
    text: str  # prose, plain text
    code: str  # code blocks, kept apart: useful terms, never shown
    order: int = 0

    def url(self, base_url: str) -> str:
        return page_url(base_url, self.path) + (f"#{self.anchor}" if self.anchor else "")


@dataclass(slots=True)
class Page:
    path: str
    title: str
    sections: list[Section] = field(default_factory=list)


def page_url(base_url: str, path: str) -> str:
    """mkdocs `use_directory_urls`: a/b.md -> a/b/, a/index.md -> a/."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    stem = path[:-3] if path.endswith(".md") else path
    parent, _, name = stem.rpartition("/")
    if name in ("index", "README"):
        return base + (parent + "/" if parent else "")
    return base + stem + "/"


# --- parsing --------------------------------------------------------------------------------

_REDIRECT_RE = re.compile(
    r"<meta\s+http-equiv=[\"']refresh[\"']|location\.replace\(|^\s*redirect(_url)?:", re.I | re.M
)
_META_RE = re.compile(r"\A(?:[A-Za-z][\w-]*:[^\n]*\n(?:[ \t]+[^\n]*\n)*)+\n")
_WS_RE = re.compile(r"[ \t\r\f\v]+")
_MULTI_NL_RE = re.compile(r"\n{3,}")


def is_redirect_stub(source: str) -> bool:
    """mkdocs-redirects (and hand-made) stubs: a meta refresh / JS redirect and little else."""
    head = source[:2000]
    return bool(_REDIRECT_RE.search(head)) and len(source) < 4000


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    md.use(front_matter_plugin)
    md.use(admon_plugin)
    return md


_MD = _parser()


def _inline_text(tok: Token) -> str:
    """Plain text of an inline token: link/emphasis syntax and inline HTML dropped."""
    out: list[str] = []
    for child in tok.children or []:
        t = child.type
        if t in ("text", "code_inline"):
            out.append(child.content)
        elif t in ("softbreak", "hardbreak"):
            out.append(" ")
        elif t == "image":
            continue
        elif t == "html_inline":
            continue
    return "".join(out)


def _heading_name(tok: Token) -> str:
    """What toc slugifies: the rendered inner HTML with tags stripped, entities unescaped."""
    parts: list[str] = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "html_inline":
            # Raw HTML inside a heading is stripped by toc's strip_tags; keep nothing.
            continue
    return html.unescape("".join(parts))


def _strip_meta(source: str) -> str:
    """Python-Markdown `meta` extension: leading `key: value` lines end at the first blank."""
    if source.startswith("---\n"):
        return source  # YAML front matter: the front_matter plugin consumes it.
    m = _META_RE.match(source)
    if m and not source.lstrip().startswith("#"):
        return source[m.end() :]
    return source


_INVISIBLE_RE = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", re.S | re.I)


def _strip_html(raw: str) -> str:
    """Text of an HTML block: comments, scripts and styles are not text."""
    return html.unescape(_TAG_RE.sub(" ", _INVISIBLE_RE.sub(" ", raw)))


def _clean(text: str) -> str:
    lines = [_WS_RE.sub(" ", ln).strip() for ln in text.split("\n")]
    return _MULTI_NL_RE.sub("\n\n", "\n".join(lines)).strip()


def parse_page(path: str, source: str, nav_title: str | None = None) -> Page:
    """Split one Markdown page into sections with mkdocs-identical anchors."""
    tokens = _MD.parse(_strip_meta(source))
    used_ids: set[str] = set()
    page_title: str | None = None

    # (level, heading, anchor, prose parts, code parts)
    chunks: list[tuple[int, str | None, str | None, list[str], list[str]]] = [
        (0, None, None, [], [])
    ]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            inline = tokens[i + 1]
            name = _heading_name(inline)
            anchor = unique(slugify(name), used_ids)
            title = _clean(_inline_text(inline).replace("\n", " "))
            if page_title is None and level == 1 and len(chunks) == 1 and not chunks[0][3]:
                # The first h1 names the page; its intro belongs to the page top.
                page_title = title
            else:
                chunks.append((level, title, anchor, [], []))
            i += 3
            continue
        cur = chunks[-1]
        if tok.type == "inline":
            cur[3].append(_inline_text(tok))
        elif tok.type in ("fence", "code_block"):
            cur[4].append(tok.content)
        elif tok.type == "html_block":
            cur[3].append(_strip_html(tok.content))
        elif tok.type == "admonition_open" and tok.meta.get("tag"):
            pass
        elif tok.type in ("paragraph_close", "admonition_title_close", "table_close"):
            cur[3].append("\n\n")  # a paragraph boundary: snippets take whole paragraphs
        elif tok.type in ("list_item_close", "tr_close", "blockquote_close"):
            cur[3].append("\n")
        elif tok.type in ("th_close", "td_close"):
            cur[3].append(" | ")
        i += 1

    title = page_title or nav_title or _title_from_path(path)
    page = Page(path=path, title=title)
    stack: list[tuple[int, str]] = []
    for order, (level, heading, anchor, prose, code) in enumerate(chunks):
        if heading is not None:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
        text = _clean(" ".join(p if p != "\n" else "\n" for p in prose).replace(" \n ", "\n"))
        code_text = "\n".join(code).strip()
        if heading is None and not text and not code_text:
            # Page top with no intro: still kept so a page-level hit has somewhere to land.
            pass
        page.sections.append(
            Section(
                path=path,
                page_title=title,
                heading=heading,
                heading_path=[h for _, h in stack] if heading is not None else [],
                anchor=anchor,
                level=level,
                text=text,
                code=code_text,
                order=order,
            )
        )
    return page


def _title_from_path(path: str) -> str:
    stem = Path(path).stem
    if stem.lower() in ("index", "readme"):
        stem = Path(path).parent.name or "Home"
    return stem.replace("-", " ").replace("_", " ").capitalize()


# --- the tree -------------------------------------------------------------------------------


def content_dir(docs_dir: Path) -> Path:
    """Accept either the repository root (with mkdocs.yml) or its content folder."""
    cfg = docs_dir / "mkdocs.yml"
    if cfg.is_file():
        m = re.search(r"^docs_dir:\s*[\"']?([^\"'\n]+)", cfg.read_text(encoding="utf-8"), re.M)
        return docs_dir / (m.group(1).strip() if m else "docs")
    return docs_dir


def nav_titles(docs_dir: Path) -> dict[str, str]:
    """Page titles from mkdocs.yml `nav` (`Title: "path.md"` lines); a light read, no YAML dep."""
    cfg = docs_dir / "mkdocs.yml"
    if not cfg.is_file():
        return {}
    out: dict[str, str] = {}
    for m in re.finditer(
        r"^\s*-\s*([^:\n]+):\s*[\"']?([^\"'\n]+\.md)[\"']?\s*$",
        cfg.read_text(encoding="utf-8"),
        re.M,
    ):
        out.setdefault(m.group(2).strip(), m.group(1).strip())
    return out


def iter_markdown(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*.md")):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        yield p


def load_tree(docs_dir: Path) -> list[Page]:
    """Every non-redirect page of the tree, sorted by path (stable ids across builds)."""
    root = content_dir(docs_dir)
    titles = nav_titles(docs_dir)
    pages: list[Page] = []
    for p in iter_markdown(root):
        rel = p.relative_to(root).as_posix()
        source = p.read_text(encoding="utf-8", errors="replace")
        if is_redirect_stub(source):
            continue
        pages.append(parse_page(rel, source, titles.get(rel)))
    return pages
