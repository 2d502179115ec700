"""Bounded records: the most severe findings within a budget, the rest counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from state.bounds import FINDING_LIMIT, bounded_findings, bounded_keys, size

_RANK = {"critical": 0, "warning": 1, "info": 2}

findings = st.lists(
    st.fixed_dictionaries(
        {
            "code": st.sampled_from(["A", "B", "C"]),
            "severity": st.sampled_from(["critical", "warning", "info"]),
            "resource": st.text(max_size=30),
            "evidence": st.dictionaries(st.text(max_size=5), st.text(max_size=3000), max_size=12),
        }
    ),
    max_size=30,
)


@given(findings, st.integers(min_value=2, max_value=60_000))
def test_bounded_findings_fit_keep_the_most_severe_and_count_the_rest(items, budget) -> None:
    kept, omitted = bounded_findings(items, budget)
    assert size(kept) <= budget
    assert len(kept) + omitted == len(items)
    assert all(size(finding) <= FINDING_LIMIT for finding in kept)
    if kept and omitted:
        worst_kept = max(_RANK[f["severity"]] for f in kept)
        kept_codes = [(f["code"], f["resource"]) for f in kept]
        left_out = [f for f in items if (f["code"], f["resource"]) not in kept_codes]
        assert all(_RANK[f["severity"]] >= worst_kept for f in left_out)


def test_small_findings_are_kept_as_they_are() -> None:
    items = [{"code": "A", "severity": "info", "resource": "/x", "evidence": {"n": 1}}]
    assert bounded_findings(items) == (items, 0)


def test_an_oversized_finding_keeps_its_identity_but_not_its_evidence() -> None:
    big = {
        "code": "A",
        "severity": "critical",
        "resource": "/x",
        "title": "t",
        "evidence": {"log": "x" * 50_000},
    }
    (kept,), omitted = bounded_findings([big])
    assert omitted == 0 and (kept["code"], kept["resource"]) == ("A", "/x")
    assert "truncated" in kept["evidence"]


@given(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=300)), max_size=400))
def test_bounded_keys_fit_and_are_unique(keys) -> None:
    kept = bounded_keys(keys, budget=20_000)
    assert size([list(k) for k in kept]) <= 20_000
    assert len(set(kept)) == len(kept) and set(kept) <= set(keys)
