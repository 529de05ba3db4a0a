"""Ranking: BM25F over section fields plus a page-level BM25, with chat-friendly query analysis.

Customers type lower case, with typos and product slang. The query side therefore goes through:
tokenise -> drop chat/stop words -> expand slang/synonyms -> correct typos against the corpus
vocabulary (Damerau-Levenshtein via rapidfuzz) -> Snowball stem. Documents are only tokenised,
stop-filtered and stemmed, so the index stays small and the slang table stays on one side.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

_STEMMER = snowballstemmer.stemmer("english")
_TOKEN_RE = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    """
a about above after again against all am an and any anyone anything are as at be because been
before being below between both but by can could did do does doing done down during each either
else etc ever every few for from further get gets getting got had has have having he her here hers
him his how i if in into is it its itself just let lets like ll me might more most much must my
myself need needs no nor not now of off on once only or other ought our ours out over own per
please really same shall she should so some something such than that the their theirs them then
there these they this those through to too under until up upon us use used using very via want
wants was way we were what whats when where which while who whom why will with within without
would yes yet you your yours yourself re ve s t d m don doesn didn isn aren wasn weren won
hi hello hey thanks thank thx ty pls plz ok okay cool guys guy folks team someone somebody
u ur teh im ive id youre dont cant wont isnt doesnt didnt theres thats whats its w o also still
maybe possible able know tell anybody everyone kind sort thing things stuff actually currently
one two new instead already again right sure supposed seems seem look looks
somehow anymore yourself yourselves ourselves themselves lying around anyway whatever
basically literally probably perhaps quite pretty kinda sorta gonna wanna gotta
""".split()
)

# Product slang and chat shorthand -> the words the docs use. General product knowledge: each
# entry holds for any question that uses the term, never for one question in particular.
SYNONYMS: dict[str, tuple[str, ...]] = {
    # sites
    "sto1": ("site", "datacenter", "sto1"),
    "sto2": ("site", "datacenter", "sto2"),
    "osl2": ("site", "datacenter", "osl2"),
    "datacenter": ("site",),
    "datacentre": ("datacenter", "site"),
    "dc": ("datacenter", "site"),
    "az": ("availability", "zone"),
    # backup client
    "tsm": ("tsm", "backup", "client", "storage", "protect"),
    "dsmc": ("dsmc", "tsm", "backup", "client"),
    "dsmcad": ("dsmcad", "schedule", "scheduler", "service"),
    "baas": ("baas", "backup"),
    "spectrum": ("storage", "protect", "tsm"),
    "isp": ("storage", "protect", "tsm"),
    "cloutility": ("cloutility", "portal", "backup"),
    "tbmr": ("tbmr", "bare", "metal", "recovery"),
    "bmr": ("bare", "metal", "recovery", "tbmr"),
    "m365": ("microsoft", "365"),
    "o365": ("microsoft", "365"),
    "office": ("microsoft",),
    "onedrive": ("onedrive", "microsoft", "365"),
    "entra": ("entra", "id", "azure"),
    "aad": ("entra", "id", "azure"),
    # kubernetes
    "ske": ("kubernetes", "ske", "cluster"),
    "newbie": ("getting", "started", "quickstart"),
    "beginner": ("getting", "started", "quickstart"),
    "onboarding": ("getting", "started", "quickstart"),
    "k8s": ("kubernetes",),
    "kube": ("kubernetes",),
    "pvc": ("persistent", "volume", "claim", "pvc"),
    "pvcs": ("persistent", "volume", "claim", "pvc"),
    "pv": ("persistent", "volume"),
    "ingress": ("ingress", "gateway", "traffic"),
    # compute
    "vm": ("instance", "server", "vm"),
    "vms": ("instance", "server", "vm"),
    "server": ("server", "instance"),
    "servers": ("server", "instance"),
    "flavour": ("flavor",),
    "flavours": ("flavor",),
    "horizon": ("horizon", "dashboard"),
    "gui": ("gui", "graphical", "interface"),
    "cli": ("command", "line", "cli"),
    "app": ("application",),
    "cred": ("credential",),
    "creds": ("credential",),
    "pw": ("password",),
    "pwd": ("password",),
    "passwd": ("password",),
    "db": ("database",),
    "dbs": ("database",),
    "lb": ("load", "balancer"),
    "elb": ("load", "balancer"),
    "loadbalancer": ("load", "balancer"),
    "whitelist": ("whitelist", "ip", "restricted", "allow"),
    "whitelisted": ("whitelist", "ip", "restricted", "allow"),
    "allowlist": ("whitelist", "ip", "restricted", "allow"),
    "fip": ("floating", "ip"),
    "uuid": ("uuid", "id"),
    "userdata": ("user", "data", "userdata"),
    "os": ("operating", "system", "image"),
    "ssh": ("ssh", "key"),
    "mfa": ("mfa", "two", "factor"),
    "2fa": ("mfa", "two", "factor"),
    "k8": ("kubernetes",),
    # storage
    "s3": ("s3", "object", "storage"),
    "bucket": ("bucket", "s3"),
    "buckets": ("bucket", "s3"),
    "immutable": ("immutable", "object", "lock"),
    "worm": ("object", "lock"),
    "glacier": ("storage", "class", "transition"),
    "ceph": ("ceph",),
    "openstack": ("openstack", "compute"),
    "nova": ("compute", "instance"),
    "neutron": ("network",),
    "cinder": ("volume",),
    "glance": ("image",),
    "disk": ("disk", "volume"),
    "disks": ("disk", "volume"),
    "drive": ("disk", "volume"),
    "bigger": ("resize", "flavor"),
    "smaller": ("resize", "shrink"),
    "upgrade": ("upgrade", "resize", "update"),
    "downsize": ("resize", "shrink"),
    "decommission": ("delete", "decommission", "remove"),
    "retire": ("delete", "remove"),
    "retired": ("delete", "remove"),
    "expire": ("expiration", "lifecycle"),
    "expiry": ("expiration", "lifecycle"),
    "token": ("token", "credential"),
    "department": ("business", "unit"),
    "departments": ("business", "unit"),
    "pentest": ("security", "testing", "penetration"),
    "pentests": ("security", "testing", "penetration"),
    "folder": ("directory", "folder"),
    "folders": ("directory", "folder"),
    "cert": ("certificate",),
    "certs": ("certificate",),
    "mac": ("macos", "apple"),
    "osx": ("macos", "apple"),
    "firewall": ("security", "group", "firewall"),
    "ports": ("port", "security", "group"),
    "keypair": ("key", "pair"),
    "pubkey": ("public", "key"),
    "vpn": ("vpn",),
    "cloudinit": ("cloud", "init"),
    "snapshot": ("snapshot", "image"),
    "clone": ("snapshot", "copy"),
    "postgres": ("postgresql", "database", "postgres"),
    "postgresql": ("postgresql", "database", "postgres"),
    "psql": ("postgresql", "database"),
    "mysql": ("mysql", "database"),
    "mariadb": ("mysql", "database", "mariadb"),
    "mongodb": ("mongodb", "database"),
    "move": ("move", "migrate"),
    "moving": ("move", "migrate"),
    "transfer": ("transfer", "migrate", "move"),
    "ping": ("ping", "icmp", "security", "group"),
    "s3cfg": ("s3cfg", "s3cmd"),
    "offboard": ("offboarding",),
    "terminate": ("terminate", "offboarding"),
    "termination": ("terminate", "offboarding"),
    "cancellation": ("offboarding", "cancel"),
    "churn": ("offboarding",),
    # general
    "prod": ("production",),
    "projekt": ("project",),
    "repo": ("repository",),
    "config": ("configuration", "config"),
    "cfg": ("configuration", "config"),
    "auth": ("authentication",),
    "sla": ("sla", "service", "level", "agreement"),
    "pricing": ("price", "billing", "cost"),
    "billed": ("billing", "price"),
    "charged": ("billing", "price"),
    "cost": ("cost", "price", "billing"),
    "costs": ("cost", "price", "billing"),
    "cheaper": ("cost", "price"),
    "invoice": ("invoice", "billing"),
}

# Weight of an expansion term relative to a word the customer typed.
EXPANSION_WEIGHT = 0.5
TYPO_WEIGHT = 0.8
PAIR_WEIGHT = 0.5


_CAMEL_RE = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z]*\b")


def _split_camel(m: re.Match[str]) -> str:
    # "InvalidBucketName" -> "Invalid Bucket Name": error names pasted from a client match both
    # the docs that quote them and the docs that explain them in words.
    word = m.group(0)
    return word + " " + re.sub(r"(?<=[a-z])(?=[A-Z])", " ", word)


_COMPOUND_RE = re.compile(r"\b[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)+\b")


def _join_compound(m: re.Match[str]) -> str:
    # "x-amz-content-sha256", "remote_ip_prefix", "tsm.kdb": the parts, plus the whole as one
    # rare token, so a pasted header, option or file name finds the page that quotes it.
    word = m.group(0)
    if not any(c.isalpha() for c in word):
        return word  # versions and addresses (22.04, 10.0.0.1): values, not names
    return word + " " + re.sub(r"[-_.]", "", word)


def tokenize(text: str) -> list[str]:
    text = _COMPOUND_RE.sub(_join_compound, text)
    text = _CAMEL_RE.sub(_split_camel, text)
    text = unicodedata.normalize("NFKD", text.lower())
    text = text.encode("ascii", "ignore").decode("ascii")
    return _TOKEN_RE.findall(text)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    s = _STEMMER.stemWord(word)
    # Snowball leaves acronym plurals alone (gpus, vms, pvcs); customers pluralise them freely.
    if s == word and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return s


def analyze_doc(text: str) -> list[str]:
    """Index-side terms: stemmed, stop words out, single characters out."""
    return [stem(t) for t in tokenize(text) if t not in STOPWORDS and len(t) > 1]


def pairs(terms: Sequence[str]) -> list[str]:
    """Adjacent pairs ("boot_disk"), kept in their own fields: a pair the customer typed is
    stronger evidence than the same two words scattered over a section."""
    return [f"{a}_{b}" for a, b in itertools.pairwise(terms) if a != b]


@dataclass(slots=True)
class QueryTerm:
    term: str  # stemmed
    weight: float
    origin: str  # the word the customer typed
    kind: str  # "word" | "typo" | "synonym"


@dataclass(slots=True)
class Query:
    text: str
    words: list[str]  # content words the customer typed (after stop filtering)
    terms: list[QueryTerm]
    unknown: list[str]  # content words found nowhere in the corpus, even fuzzily


class Vocabulary:
    """Surface words of the corpus, for typo correction."""

    def __init__(self, surface_df: Counter[str]) -> None:
        self.df = surface_df
        self.words = [w for w in surface_df if len(w) >= 3 and not w.isdigit()]

    @lru_cache(maxsize=20_000)  # noqa: B019 - one Vocabulary per index, lives as long as it
    def correct(self, word: str) -> str | None:
        """Nearest corpus word by Damerau-Levenshtein, or None when nothing is close enough."""
        if len(word) < 4 or word.isdigit() or any(c.isdigit() for c in word):
            return None
        max_d = 1 if len(word) <= 7 else 2
        cands = process.extract(
            word,
            self.words,
            scorer=DamerauLevenshtein.distance,
            score_cutoff=max_d,
            limit=20,
        )
        if not cands:
            return None
        best_d = min(c[1] for c in cands)
        best = [c[0] for c in cands if c[1] == best_d]
        # Same first letter is far more likely for a typo; then the commoner word.
        best.sort(key=lambda w: (w[0] != word[0], -self.df[w]))
        return best[0]


def analyze_query(text: str, vocab: Vocabulary) -> Query:
    words = [t for t in tokenize(text) if t not in STOPWORDS and len(t) > 1]
    terms: dict[str, QueryTerm] = {}
    unknown: list[str] = []

    def add(term: str, weight: float, origin: str, kind: str) -> None:
        old = terms.get(term)
        if old is None or old.weight < weight:
            terms[term] = QueryTerm(term, weight, origin, kind)

    typed: list[str] = []  # stems of what the customer typed, typos fixed, in order
    for w in words:
        syn = SYNONYMS.get(w)
        if syn:
            typed.append(stem(syn[0]))
        elif w in vocab.df:
            add(stem(w), 1.0, w, "word")
            typed.append(stem(w))
        else:
            fixed = vocab.correct(w)
            if fixed and fixed not in STOPWORDS:
                syn = SYNONYMS.get(fixed)
                if not syn:
                    add(stem(fixed), TYPO_WEIGHT, w, "typo")
                typed.append(stem(syn[0] if syn else fixed))
            elif fixed is None:
                unknown.append(w)
        syn_terms = [stem(s) for s in syn or ()]
        for j, st in enumerate(syn_terms):
            # The first word of an entry is what the docs call it: it carries the full weight,
            # also when the customer's own word is a rarer (so higher-idf) alias.
            add(st, 1.0 if j == 0 else EXPANSION_WEIGHT, w, "synonym")
        if len(syn_terms) > 1:
            for bg in pairs(syn_terms):
                add(bg, EXPANSION_WEIGHT, w, "synonym")
    for bg in pairs(typed):
        add(bg, PAIR_WEIGHT, bg, "pair")
    # A pasted CamelCase name also comes in as its parts; the joined form is no unknown topic.
    joined = {m.group(0).lower() for m in _CAMEL_RE.finditer(text)} | {
        re.sub(r"[-_.]", "", m.group(0)).lower() for m in _COMPOUND_RE.finditer(text)
    }
    unknown = [w for w in unknown if w not in joined]
    return Query(text=text, words=words, terms=list(terms.values()), unknown=unknown)


# --- BM25F ----------------------------------------------------------------------------------


@dataclass(slots=True)
class FieldIndex:
    """Postings of one field: term -> {doc: tf}, plus lengths for normalisation."""

    postings: dict[str, dict[int, int]] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    avg: float = 1.0

    @classmethod
    def build(cls, docs: Sequence[list[str]]) -> FieldIndex:
        postings: dict[str, dict[int, int]] = {}
        for i, terms in enumerate(docs):
            for t, n in Counter(terms).items():
                postings.setdefault(t, {})[i] = n
        lengths = [len(d) for d in docs]
        avg = (sum(lengths) / len(lengths)) if lengths else 1.0
        return cls(postings=postings, lengths=lengths, avg=max(avg, 1.0))


@dataclass(slots=True)
class BM25F:
    """BM25F (Robertson/Zaragoza): per-field length-normalised tf, summed with field weights,
    then one saturation. Titles and headings count for more than body text."""

    fields: dict[str, FieldIndex]
    weights: dict[str, float]
    b: dict[str, float]
    n_docs: int
    df: dict[str, int]
    k1: float = 1.2
    # term -> {doc: field-weighted, length-normalised tf}; filled by compile()
    merged: dict[str, dict[int, float]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        docs: Sequence[dict[str, list[str]]],
        weights: dict[str, float],
        b: dict[str, float],
        k1: float = 1.2,
    ) -> BM25F:
        fields = {f: FieldIndex.build([d.get(f, []) for d in docs]) for f in weights}
        df: Counter[str] = Counter()
        for d in docs:
            seen: set[str] = set()
            for f in weights:
                seen.update(d.get(f, []))
            df.update(seen)
        index = cls(fields=fields, weights=weights, b=b, n_docs=len(docs), df=dict(df), k1=k1)
        index.compile()
        return index

    def compile(self) -> None:
        """Fold the fields into one posting list per term: weights and length norms are fixed
        once built, so a query then costs one dict walk per term instead of one per field."""
        merged: dict[str, dict[int, float]] = {}
        for fname, fidx in self.fields.items():
            w = self.weights[fname]
            b = self.b[fname]
            avg = fidx.avg
            lens = fidx.lengths
            for term, post in fidx.postings.items():
                acc = merged.setdefault(term, {})
                for doc, tf in post.items():
                    acc[doc] = acc.get(doc, 0.0) + w * tf / (1.0 - b + b * lens[doc] / avg)
        # Impact order (highest field-weighted tf first): scoring may stop after `depth`
        # postings of a term, which bounds a query's cost however large the docs grow. Only
        # very common terms are that long, and their tail adds little.
        self.merged = {
            t: dict(sorted(post.items(), key=lambda x: -x[1])) for t, post in merged.items()
        }
        # The per-field postings are only the recipe: drop them (half the index's memory).
        for fidx in self.fields.values():
            fidx.postings = {}

    def idf(self, term: str) -> float:
        n = self.df.get(term, 0)
        return math.log(1.0 + (self.n_docs - n + 0.5) / (n + 0.5))

    def idfs(self) -> dict[str, float]:
        return {t: self.idf(t) for t in self.df}

    def score(
        self,
        terms: Iterable[tuple[str, float]],
        mass: dict[int, float] | None = None,
        depth: int = 300,
    ) -> dict[int, float]:
        """BM25F scores by doc. `mass`, when given, receives per doc the summed query weight x
        idf of the terms it contains (how much of the question the doc covers at all)."""
        scores: dict[int, float] = {}
        for term, qw in terms:
            if term not in self.df:
                continue
            idf = self.idf(term)
            k1 = self.k1
            c = qw * idf * (k1 + 1)
            get = scores.get
            post = self.merged[term]
            items = post.items() if len(post) <= depth else itertools.islice(post.items(), depth)
            for doc, tf in items:
                scores[doc] = get(doc, 0.0) + c * tf / (k1 + tf)
                if mass is not None:
                    mass[doc] = mass.get(doc, 0.0) + qw * idf
        return scores

    def matched(self, terms: Iterable[str], doc: int) -> set[str]:
        """Which of the terms occur in the doc, in any field."""
        return {t for t in terms if doc in self.merged.get(t, ())}
