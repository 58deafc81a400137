"""Reference metrics of generated answers, from the packages made for them: rouge-score and sacrebleu."""

from __future__ import annotations

from dataclasses import dataclass

METRIC_NAMES = ("exact_match", "rougeL", "chrf", "bleu")


@dataclass
class Scores:
    """Exact match (0 or 1, or the share of rows), ROUGE-L F1 (0-1), chrF and BLEU (0-100)."""

    exact_match: float
    rougeL: float
    chrf: float
    bleu: float

    def as_dict(self) -> dict[str, float]:
        """The scores by metric name."""
        return {name: getattr(self, name) for name in METRIC_NAMES}


class _SacrebleuWords:
    """rouge-score's tokenizer interface over sacrebleu's `zh` tokenizer: Chinese characters as words, 13a-style otherwise.

    rouge-score's own tokenizer keeps only [a-z0-9], so Chinese (or any non-Latin) answers would score 0.
    """

    def __init__(self) -> None:
        from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

        self._tokenizer = TokenizerZh()

    def tokenize(self, text: str) -> list[str]:
        return self._tokenizer(text).split()


def bleu_tokenizer(references: list[str]) -> str:
    """sacrebleu's `zh` tokenizer when any reference holds Chinese characters, else its default `13a`."""
    import regex

    return "zh" if any(regex.search(r"\p{Han}", text) for text in references) else "13a"


def score_rows(answers: list[str], references: list[str]) -> list[Scores]:
    """Each answer's scores against its reference."""
    from rouge_score.rouge_scorer import RougeScorer
    from sacrebleu.metrics import BLEU, CHRF

    rouge = RougeScorer(["rougeL"], tokenizer=_SacrebleuWords())
    bleu = BLEU(tokenize=bleu_tokenizer(references), effective_order=True)
    chrf = CHRF()
    return [Scores(float(answer.strip() == reference.strip()), rouge.score(reference, answer)["rougeL"].fmeasure,
                   chrf.sentence_score(answer, [reference]).score, bleu.sentence_score(answer, [reference]).score)
            for answer, reference in zip(answers, references)]


def score_corpus(answers: list[str], references: list[str], rows: list[Scores]) -> tuple[Scores, dict[str, str]]:
    """Corpus scores (exact match and ROUGE-L as means over rows; chrF and BLEU over the corpus) and sacrebleu's signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu = BLEU(tokenize=bleu_tokenizer(references))
    chrf = CHRF()
    count = len(rows) or 1
    scores = Scores(sum(r.exact_match for r in rows) / count, sum(r.rougeL for r in rows) / count,
                    chrf.corpus_score(answers, [references]).score, bleu.corpus_score(answers, [references]).score)
    return scores, {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())}
