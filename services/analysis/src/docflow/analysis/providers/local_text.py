"""The embedded analyzer's text functions: pure, synchronous, CPU-bound (run off the loop)."""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING

import yake
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from docflow.analysis.providers.base import EntityResult, SentimentResult

if TYPE_CHECKING:
    from lingua import LanguageDetector

SUMMARY_SENTENCES = 2
KEYWORDS = 8
# VADER's own thresholds for a positive/negative compound score.
SENTIMENT_THRESHOLD = 0.05
# Both sides at least this strong (VADER's pos/neg proportions) reads as mixed.
MIXED_THRESHOLD = 0.2

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W\d_]{3,}")
_CAPITALIZED_SPAN = re.compile(r"\b[A-Z][\w&-]*(?:\s+(?:of\s+)?[A-Z][\w&-]*)*")
_LEADING_ARTICLE = re.compile(r"^(?:The|A|An)\s+")
_ORG_SUFFIXES = frozenset({"Inc", "Corp", "Ltd", "LLC", "GmbH", "AG", "SA", "Group", "Bank", "Co"})
_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "that",
        "this",
        "with",
        "from",
        "have",
        "for",
        "are",
        "was",
        "were",
        "will",
        "would",
        "there",
        "their",
        "which",
        "about",
        "into",
        "than",
        "then",
        "them",
        "they",
        "been",
        "has",
        "had",
        "not",
        "but",
        "you",
        "your",
        "our",
        "its",
        "also",
        "more",
        "what",
        "when",
        "where",
        "who",
    ]
)
_CATEGORY_BUCKETS: dict[str, frozenset[str]] = {
    "finance": frozenset(
        [
            "revenue",
            "profit",
            "earnings",
            "quarter",
            "investment",
            "investor",
            "market",
            "stock",
            "shares",
            "dividend",
            "bank",
            "finance",
            "financial",
            "budget",
            "price",
            "growth",
            "sales",
        ]
    ),
    "technology": frozenset(
        [
            "software",
            "cloud",
            "data",
            "computer",
            "algorithm",
            "server",
            "platform",
            "digital",
            "internet",
            "technology",
            "network",
            "database",
            "ai",
            "model",
        ]
    ),
    "health": frozenset(
        ["health", "patient", "patients", "hospital", "medical", "doctor", "disease", "clinical"]
    ),
    "legal": frozenset(
        ["contract", "court", "legal", "regulation", "agreement", "lawsuit", "compliance", "law"]
    ),
    "politics": frozenset(
        ["government", "election", "minister", "policy", "parliament", "president"]
    ),
    "sports": frozenset(["match", "team", "season", "player", "players", "league", "championship"]),
}
# Detecting among a few common languages is ~10x faster than among all 75, and covers most input.
_LANGUAGES = ("ENGLISH", "GERMAN", "FRENCH", "SPANISH", "ITALIAN", "PORTUGUESE", "DUTCH", "POLISH")

_detector_lock = threading.Lock()
_detector: LanguageDetector | None = None


def _language_detector() -> LanguageDetector:
    """Built once, on first use: building loads models (slow) and must not run at import."""
    global _detector
    with _detector_lock:
        if _detector is None:
            from lingua import Language, LanguageDetectorBuilder

            languages = [getattr(Language, name) for name in _LANGUAGES]
            _detector = LanguageDetectorBuilder.from_languages(*languages).build()
        return _detector


@lru_cache(maxsize=1)
def _sentiment_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOPWORDS]


def summarize(text: str, *, limit: int = SUMMARY_SENTENCES) -> str:
    """The `limit` sentences with the most frequent words, in their original order."""
    candidates = sentences(text)
    if len(candidates) <= limit:
        return " ".join(candidates) or text.strip()[:500]
    frequency = Counter(words(text))

    def score(sentence: str) -> float:
        tokens = words(sentence)
        return sum(frequency[t] for t in tokens) / (len(tokens) or 1)

    best = sorted(range(len(candidates)), key=lambda i: score(candidates[i]), reverse=True)
    return " ".join(candidates[i] for i in sorted(best[:limit]))


def keywords(text: str, *, language: str) -> list[str]:
    extractor = yake.KeywordExtractor(
        lan=language if language != "und" else "en", n=2, top=KEYWORDS
    )
    found = [phrase for phrase, _score in extractor.extract_keywords(text)]
    return [phrase.lower() for phrase in found][:KEYWORDS]


def sentiment(text: str) -> SentimentResult:
    scores = _sentiment_analyzer().polarity_scores(text)
    compound = float(scores["compound"])
    if scores["pos"] >= MIXED_THRESHOLD and scores["neg"] >= MIXED_THRESHOLD:
        label = "mixed"
    elif compound >= SENTIMENT_THRESHOLD:
        label = "positive"
    elif compound <= -SENTIMENT_THRESHOLD:
        label = "negative"
    else:
        label = "neutral"
    return SentimentResult(label=label, score=round(compound, 4))


def language(text: str) -> str:
    detected = _language_detector().detect_language_of(text)
    return detected.iso_code_639_1.name.lower() if detected is not None else "und"


def entities(text: str, *, limit: int = 10) -> list[EntityResult]:
    """Capitalized spans that do not start a sentence; a company suffix makes an ORG."""
    found: dict[str, EntityResult] = {}
    for sentence in sentences(text):
        for match in _CAPITALIZED_SPAN.finditer(sentence):
            span = _LEADING_ARTICLE.sub("", match.group(0)).strip()
            if match.start() == 0 and " " not in span:
                continue  # a lone sentence-initial word is usually not a name
            if span.lower() in _STOPWORDS or len(span) < 2:
                continue
            kind = "ORG" if span.split()[-1] in _ORG_SUFFIXES else "NAME"
            found.setdefault(span, EntityResult(text=span, type=kind))
    return list(found.values())[:limit]


def categories(text: str) -> list[str]:
    present = set(words(text))
    matched = [name for name, bucket in _CATEGORY_BUCKETS.items() if present & bucket]
    return matched or ["general"]
