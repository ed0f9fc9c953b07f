"""The ``llm`` engine: retrieval first, then a model writes the answer from the entries.

One turn (:meth:`LLMAnswerer.answer_streaming`):

1. the retrieval engine answers (candidates, calibrated confidence);
2. the question, with personal data redacted (:mod:`.redact`), and the top ``top_k``
   entries go to the model (:mod:`.prompt`), whose answer streams back
   (:mod:`.client`); the visible text so far goes to ``on_partial``;
3. the finished text is checked (:mod:`.grounding`): a refusal, no citation, or a
   citation of an entry that was not given raises :class:`~.client.ModelError` (the
   turn escalates with ``ai_error``; or, with ``fallback = "retrieval"``, the retrieval
   answer is returned instead);
4. the confidence is computed from evidence outside the text (:mod:`.confidence`).

Latency, tokens and cost go to ``/metrics`` (:mod:`.metrics`) and to the answer's
``analysis`` (agents only).
"""

from __future__ import annotations

import re
import time

from handoff_server.ai.base import Answer, Answerer, PartialText
from handoff_server.ai.llm import metrics
from handoff_server.ai.llm.client import ChatClient, Completion, ModelError
from handoff_server.ai.llm.confidence import Calibration, Evidence, entry_probability, mean_logprob
from handoff_server.ai.llm.grounding import (
    citations,
    drop_certainty_claims,
    sentence_support,
    strip_citations,
)
from handoff_server.ai.llm.prompt import NO_ANSWER, build_messages
from handoff_server.ai.llm.redact import redact
from handoff_server.ai.llm.settings import LLMSettings
from handoff_server.kb.models import KBEntry, KnowledgeBase
from handoff_server.kb.plaintext import markdown_to_text

__all__ = ["LLMAnswerer", "visible_text"]


_OPEN_MARKER = re.compile(r"\[[^\]\s]*$")


def visible_text(text_so_far: str) -> str:
    """What a visitor may be shown of a stream: citation markers removed (a marker still
    being written too), nothing while the text may still be the refusal word."""
    head = text_so_far.strip()
    if NO_ANSWER.startswith(head) or head.startswith(NO_ANSWER):
        return ""
    return strip_citations(_OPEN_MARKER.sub("", text_so_far))


class LLMAnswerer:
    """An :class:`~handoff_server.ai.base.StreamingAnswerer` writing answers with a
    Chat Completions model, grounded in what ``retrieval`` finds in ``kb``.

    ``client``: the model server (built from ``settings`` when ``None``);
    ``calibration``: the faithfulness weights (``settings.calibration_file``, else the
    shipped ones). Thread-safe: the server answers several turns at once."""

    def __init__(
        self,
        kb: KnowledgeBase,
        retrieval: Answerer,
        settings: LLMSettings,
        *,
        client: ChatClient | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.kb = kb
        self.retrieval = retrieval
        self.settings = settings
        self.client = client or ChatClient(settings)
        self.calibration = calibration or Calibration.load(settings.calibration_file)
        self._entries = kb.by_id()

    def answer(self, question: str) -> Answer:
        """The answer, not streamed. Raises :class:`~.client.ModelError` (an
        :class:`~handoff_server.errors.AnswererError`) as :meth:`answer_streaming`."""
        return self.answer_streaming(question, lambda _text: None)

    def answer_streaming(self, question: str, on_partial: PartialText) -> Answer:
        """Retrieve, ask the model, check, score. Raises :class:`~.client.ModelError`
        with its ``reason`` when the model's answer cannot be given (unless
        ``fallback = "retrieval"``: the retrieval answer, its analysis saying why)."""
        return self.answer_with_evidence(question, on_partial)[0]

    def answer_with_evidence(
        self, question: str, on_partial: PartialText
    ) -> tuple[Answer, Evidence | None]:
        """As :meth:`answer_streaming`, with the evidence the confidence was computed
        from (``None`` for the retrieval answer: no model answer, or the fallback)."""
        base = self.retrieval.answer(question)
        listed = self._listed(base)
        if not listed:
            return base, None
        redacted, found = redact(question, self.settings.redact, self.settings.phone_region)
        messages = build_messages(redacted, listed)
        started = time.monotonic()
        completion: Completion | None = None
        try:
            completion = self.client.complete(messages, lambda t: on_partial(visible_text(t)))
            metrics.LATENCY.observe(completion.seconds)
            self._count_usage(completion)
            answer, ev = self._grounded(base, listed, completion, found)
        except ModelError as exc:
            if completion is None:  # the request itself failed: its time is not observed yet
                metrics.LATENCY.observe(time.monotonic() - started)
            metrics.ANSWERS.labels(outcome=exc.reason).inc()
            if self.settings.fallback == "retrieval":
                note = f" The model's answer was not used ({exc}); this is the KB entry."
                return base.model_copy(update={"analysis": base.analysis + note}), None
            raise
        metrics.ANSWERS.labels(outcome="answered").inc()
        return answer, ev

    def _listed(self, base: Answer) -> list[KBEntry]:
        ids = [c.entry_id for c in base.candidates[: self.settings.top_k]]
        return [self._entries[i] for i in ids if i in self._entries]

    def _cost(self, c: Completion) -> float:
        s = self.settings
        return (
            c.prompt_tokens * s.input_usd_per_million_tokens
            + c.completion_tokens * s.output_usd_per_million_tokens
        ) / 1e6

    def _count_usage(self, c: Completion) -> None:
        metrics.TOKENS.labels(kind="prompt").inc(c.prompt_tokens)
        metrics.TOKENS.labels(kind="completion").inc(c.completion_tokens)
        metrics.COST.inc(self._cost(c))

    def _grounded(
        self, base: Answer, listed: list[KBEntry], c: Completion, redacted: list[str]
    ) -> tuple[Answer, Evidence]:
        if c.text.strip().startswith(NO_ANSWER):
            raise ModelError("refusal", "the model found no answer in the retrieved entries")
        kept, dropped = drop_certainty_claims(c.text)
        cited = citations(kept)
        if not cited:
            raise ModelError("no_citation", "the answer cites no entry")
        given = {e.id: e for e in listed}
        unknown = [i for i in cited if i not in given]
        if unknown:
            raise ModelError("unknown_citation", f"the answer cites entries not given: {unknown}")
        sources = {e.id: f"{e.title}\n{markdown_to_text(e.answer)}" for e in listed}
        support = sentence_support(kept, sources)
        if not support.scores:
            raise ModelError("empty", "the answer has no sentence to check")
        ev = Evidence(
            retrieval=base.confidence,
            entry=entry_probability(base.confidence, base.candidates, cited),
            support_min=support.minimum,
            support_share=support.share_supported,
            mean_logprob=mean_logprob(c.text, c.token_logprobs, dropped),
        )
        primary = given[cited[0]]
        answer = Answer(
            text=strip_citations(kept),
            confidence=self.calibration.confidence(ev),
            entry_id=primary.id,
            sources=cited,
            candidates=base.candidates,
            analysis=self._analysis(base, ev, support.scores, c, redacted),
            entry_escalate=any(given[i].escalate for i in cited),
            team=primary.team,
        )
        return answer, ev

    def _analysis(
        self, base: Answer, ev: Evidence, scores: list[float], c: Completion, redacted: list[str]
    ) -> str:
        supported = sum(s >= 0.6 for s in scores)
        lp = "none returned" if ev.mean_logprob is None else f"{ev.mean_logprob:.2f}"
        usage = "estimated " if c.usage_estimated else ""
        hidden = f" Redacted before sending: {', '.join(redacted)}." if redacted else ""
        return (
            f"{base.analysis} Written by {self.settings.model}: {supported} of {len(scores)} "
            f"sentences supported by the cited entries (weakest {ev.support_min:.2f}); "
            f"retrieval confidence {ev.retrieval:.2f}, entry {ev.entry:.2f}; mean token "
            f"log-probability {lp}. {c.seconds:.2f} s, {usage}{c.prompt_tokens}+"
            f"{c.completion_tokens} tokens, ${self._cost(c):.6f}.{hidden}"
        )
