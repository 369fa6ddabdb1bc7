"""axe-core, run in the page under test: the WCAG checks a screen-reader or keyboard user would feel.

axe-core is vendored (vendor/axe-core/, from the npm registry, with its licence) and evaluated through the
DevTools protocol, so the page's Content-Security-Policy stays as users get it and nothing is fetched."""

from pathlib import Path

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING = {"serious", "critical"}

# preload: false: axe's preloading copies the page's style sheets into new <style> elements, which the page's
# Content-Security-Policy refuses (a console error that fails the test); only css-orientation-lock needs them.
RUN_AXE = """async () => {
    const results = await axe.run(document, {resultTypes: ['violations'], preload: false});
    return results.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => ({target: n.target.join(' '), summary: n.failureSummary})),
    }));
}"""


def load_axe(page):
    """Put axe-core in the page (once per document): done ahead, a check mid-answer costs only the run."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)


def axe_violations(page) -> list[dict]:
    """Every violation axe-core finds on the page as it is now (the page's current state, not its load)."""
    load_axe(page)
    return page.evaluate(RUN_AXE)


def serious_violations(page) -> list[str]:
    """The serious and critical violations, one readable line per element (what a failing test prints)."""
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {node['target']}: {node['summary']}"
        for v in axe_violations(page) if v["impact"] in BLOCKING
        for node in v["nodes"]
    ]


def assert_accessible(page):
    found = serious_violations(page)
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)
