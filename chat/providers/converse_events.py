"""Reading a ConverseStream: each event boto3 yields, translated into ours (chat.providers.base).

Shapes as botocore's service model has them (`ConverseStreamOutput`, `ContentBlockDelta`, `TokenUsage`,
`ConverseStreamTrace`; see ../shared/BEDROCK-WIRE.md). An answer is whole only when both `messageStop`
and `metadata` arrived: the reader says so in `complete`, and the stream reading it fails as `incomplete`
otherwise.
"""

from chat.providers.base import Citation, ReasoningDelta, ReasoningSignature, StopReason, TextDelta, Trace, Usage

# GuardrailAssessment's policies: the list each keeps its findings in, and the field naming a finding's type.
GUARDRAIL_POLICIES = {
    "topicPolicy": (("topics", "name"),),
    "contentPolicy": (("filters", "type"),),
    "wordPolicy": (("customWords", None), ("managedWordLists", "type")),
    "sensitiveInformationPolicy": (("piiEntities", "type"), ("regexes", "name")),
    "contextualGroundingPolicy": (("filters", "type"),),
}


class ConverseReader:
    """One per stream: translates its events and remembers whether the answer ended as Bedrock ends one."""

    def __init__(self):
        self.stopped = False  # messageStop arrived
        self.measured = False  # metadata arrived
        self.citation: dict | None = None  # the citation being streamed, yielded when the next one starts

    @property
    def complete(self) -> bool:
        return self.stopped and self.measured

    def events(self, event: dict):
        """Events we do not use (messageStart, ...) yield nothing: the caller reports the upstream alive."""
        if "contentBlockDelta" in event:
            yield from self.delta(event["contentBlockDelta"].get("delta", {}))
        elif "contentBlockStop" in event:
            yield from self.flush_citation()
        elif "messageStop" in event:
            self.stopped = True
            yield from self.flush_citation()
            yield StopReason(event["messageStop"].get("stopReason", ""))
        elif "metadata" in event:
            self.measured = True
            yield from metadata_events(event["metadata"])

    def delta(self, delta: dict):
        if delta.get("text"):
            yield TextDelta(delta["text"])
        elif "reasoningContent" in delta:
            reasoning = delta["reasoningContent"]
            if reasoning.get("text"):
                yield ReasoningDelta(reasoning["text"])
            if reasoning.get("signature") or reasoning.get("redactedContent"):
                yield ReasoningSignature(reasoning.get("signature", ""), reasoning.get("redactedContent", b""))
        elif "citation" in delta:
            yield from self.cite(delta["citation"])

    def cite(self, citation: dict):
        """A citation may come in pieces: a delta with only more source text extends the one before it."""
        text = "".join(part.get("text", "") for part in citation.get("sourceContent") or [])
        starts_one = any(citation.get(name) for name in ("title", "source", "location"))
        if self.citation is not None and not starts_one:
            self.citation["text"] += text
            return
        yield from self.flush_citation()
        self.citation = {"title": citation.get("title", ""), "source": citation.get("source", ""),
                         "location": location_text(citation.get("location") or {}), "text": text}

    def flush_citation(self):
        if self.citation is not None:
            yield Citation(**self.citation)
            self.citation = None


def metadata_events(metadata: dict):
    usage = metadata.get("usage", {})
    yield Usage(
        usage.get("inputTokens"), usage.get("outputTokens"),
        cache_read_input_tokens=usage.get("cacheReadInputTokens"),
        cache_write_input_tokens=usage.get("cacheWriteInputTokens"),
        server_latency_ms=metadata.get("metrics", {}).get("latencyMs"),
    )
    trace = metadata.get("trace") or {}
    guardrail = trace.get("guardrail")
    invoked_model = (trace.get("promptRouter") or {}).get("invokedModelId", "")
    if guardrail or invoked_model:
        yield Trace(compact_guardrail(guardrail) if guardrail else None, invoked_model)


def location_text(location: dict) -> str:
    """A CitationLocation (a union) as a short string: "page 3", "characters 10–52", "chunk 2", a URL."""
    if "web" in location:
        return location["web"].get("url") or location["web"].get("domain", "")
    for kind, unit in (("documentPage", "page"), ("documentChar", "characters"), ("documentChunk", "chunk"),
                       ("searchResultLocation", "search result")):
        if kind in location:
            place = location[kind]
            start, end = place.get("start"), place.get("end")
            span = "" if start is None else str(start) if end in (None, start) else f"{start}–{end}"
            if kind == "searchResultLocation":
                return f"search result {place.get('searchResultIndex', 0)}" + (f", blocks {span}" if span else "")
            plural = "s" if unit in ("page", "chunk") and "–" in span else ""
            document = f"document {place['documentIndex']}, " if place.get("documentIndex") else ""
            return f"{document}{unit}{plural} {span}".strip()
    return ""


def compact_guardrail(trace: dict) -> dict:
    """A GuardrailTraceAssessment, compact: why it acted, and each policy finding in the input and output
    assessments with its action (BLOCKED, ANONYMIZED, NONE) and confidence. Matched text is left out: it
    may be the very personal information the guardrail masked."""
    assessments = []
    for assessment in (trace.get("inputAssessment") or {}).values():
        assessments += findings(assessment, "input")
    for listed in (trace.get("outputAssessments") or {}).values():
        for assessment in listed:
            assessments += findings(assessment, "output")
    return {"reason": trace.get("actionReason") or "", "assessments": assessments}


def findings(assessment: dict, source: str) -> list[dict]:
    found = []
    for policy, lists in GUARDRAIL_POLICIES.items():
        for list_name, type_field in lists:
            for item in (assessment.get(policy) or {}).get(list_name) or []:
                found.append({"source": source, "policy": policy,
                              "type": item.get(type_field, "") if type_field else "CUSTOM_WORD",
                              "action": item.get("action", ""), "confidence": item.get("confidence", "")})
    for finding in (assessment.get("automatedReasoningPolicy") or {}).get("findings") or []:
        for kind in finding:  # a union: valid, invalid, satisfiable… (such findings carry no action)
            found.append({"source": source, "policy": "automatedReasoningPolicy", "type": kind, "action": "",
                          "confidence": ""})
    return found
