"""The approval pages in a real browser (chromium, Playwright) against `appgw-doctor serve`'s server:
an alert on a gateway in mode `approve` leaves a pending approval; its link opens the page; the
buttons decide. Looking never changes anything; a decision is taken once; a bad, expired, decided or
cancelled link shows why, without buttons."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.browser.serving import (
    audit_steps,
    pending_link,
    post_alert,
    record,
    request_timeout,
    resolved_body,
    running,
    tampered,
)

BEFORE, AFTER = 20, 30  # the scenario's requestTimeout, and what the fix raises it to


def open_page(page: Any, url: str) -> int:
    response = page.goto(url)
    assert response is not None
    return int(response.status)


def click(page: Any, button: str) -> int:
    """Click a decision button; the status of the page the form's POST answered with."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button).click()
    return int(navigation.value.status)


def heading(page: Any) -> str:
    return str(page.locator("h1").inner_text())


def buttons(page: Any) -> int:
    return int(page.locator("button").count())


def test_approving_in_the_browser_applies_verifies_and_heals_the_estate(page) -> None:
    with running() as served:
        link = pending_link(served)
        stored = record(served, link)
        assert open_page(page, link) == 200
        assert heading(page) == "Approve a fix on agw-contoso?"
        text = page.locator("main").inner_text()
        for shown in (
            "agw-contoso (resource group rg-contoso-web)",
            "REQUEST_TIMEOUT_TOO_LOW",
            "requestTimeout 20 s -> 30 s on settings web-settings",
            "requestTimeout: 20",
            "requestTimeout: 30",
            "az network application-gateway http-settings update",
            "--timeout 30",
            "--timeout 20",  # the undo
            stored.requested_by,
            stored.expires_at.strftime("%Y-%m-%dT%H:%M"),
            "recorded as anonymous",
        ):
            assert shown in text, shown
        assert buttons(page) == 2
        # GET never changes anything: the estate and the approval record are as they were.
        assert request_timeout(served) == BEFORE and record(served, link) == stored
        assert audit_steps(served) == [("plan", "planned")]

        assert click(page, "Approve") == 200
        assert heading(page) == "Approved: the fix was applied and verified"
        assert "approved by anonymous: verified" in page.locator("main").inner_text()
        assert request_timeout(served) == AFTER
        assert audit_steps(served) == [("plan", "planned"), ("apply", "applied"), ("verify", "verified")]
        assert record(served, link).state == "approved"


def test_the_signed_in_approver_is_named_and_the_decision_preselected(browser) -> None:
    context = browser.new_context(extra_http_headers={"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"})
    page = context.new_page()
    try:
        with running() as served:
            link = pending_link(served)
            assert open_page(page, link + "&decision=approve") == 200
            assert "signed in as alice@contoso.com" in page.locator(".who").inner_text()
            assert "You chose Approve" in page.locator("main").inner_text()
            assert page.evaluate("document.activeElement.value") == "approve"
            assert click(page, "Approve") == 200
            assert record(served, link).decided_by == "alice@contoso.com"
            (apply,) = [e for e in served.app.desk.ledger.audit_entries() if e.step == "apply"]
            assert "alice@contoso.com" in (apply.identity or "")
    finally:
        context.close()


def test_a_viewer_not_on_the_approvers_list_sees_no_buttons(browser) -> None:
    context = browser.new_context(extra_http_headers={"X-MS-CLIENT-PRINCIPAL-NAME": "mallory@contoso.com"})
    page = context.new_page()
    try:
        with running(APPROVERS="alice@contoso.com") as served:
            link = pending_link(served)
            assert open_page(page, link) == 403
            assert "mallory@contoso.com is not on the approvers' list" in page.locator("main").inner_text()
            assert buttons(page) == 0
            assert record(served, link).state == "pending" and request_timeout(served) == BEFORE
    finally:
        context.close()


def test_rejecting_changes_nothing(page) -> None:
    with running() as served:
        link = pending_link(served)
        open_page(page, link)
        assert click(page, "Reject") == 200
        assert heading(page) == "Rejected: nothing was changed"
        assert request_timeout(served) == BEFORE
        assert record(served, link).state == "rejected"
        assert [step for step, _ in audit_steps(served)] == ["plan", "reject"]


def test_a_decided_link_replayed_says_already_decided_without_buttons(page) -> None:
    with running() as served:
        link = pending_link(served)
        open_page(page, link)
        click(page, "Approve")
        assert open_page(page, link) == 409
        assert heading(page) == "Already decided"
        assert "already decided: approved by anonymous" in page.locator("main").inner_text().lower()
        assert buttons(page) == 0
        assert [step for step, _ in audit_steps(served)].count("apply") == 1


def test_a_tampered_token_is_refused_and_changes_nothing(page) -> None:
    with running() as served:
        link = pending_link(served)
        stored = record(served, link)
        assert open_page(page, tampered(link)) == 403
        assert heading(page) == "This link is not valid"
        assert buttons(page) == 0
        assert "az network" not in page.content()  # a bad token learns nothing about the fix
        assert record(served, link) == stored and request_timeout(served) == BEFORE


def test_an_expired_link_is_refused_when_opened_or_used(page) -> None:
    with running() as served:
        link = pending_link(served)
        assert open_page(page, link) == 200  # opened in time ...
        later = datetime.now(timezone.utc) + timedelta(hours=2)
        served.app.desk.remediator._clock = lambda: later  # ... the clock moves past the link's expiry
        assert click(page, "Approve") == 410  # ... and used too late
        assert heading(page) == "This link has expired"
        assert buttons(page) == 0
        assert request_timeout(served) == BEFORE and record(served, link).state == "expired"
        assert open_page(page, link) == 410
        assert buttons(page) == 0


def test_two_tabs_approving_at_once_apply_exactly_once(browser) -> None:
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    try:
        with running() as served:
            link = pending_link(served)
            assert open_page(first, link) == 200 and open_page(second, link) == 200
            with first.expect_navigation() as one, second.expect_navigation() as other:
                # Both forms are submitted before either answer comes back.
                first.evaluate("document.querySelector('button.approve').click()")
                second.evaluate("document.querySelector('button.approve').click()")
            statuses = sorted([one.value.status, other.value.status])
            headings = sorted([heading(first), heading(second)])
            assert statuses == [200, 409], headings
            assert headings == ["Already decided", "Approved: the fix was applied and verified"]
            assert [step for step, _ in audit_steps(served)].count("apply") == 1
            assert request_timeout(served) == AFTER
    finally:
        context.close()


def test_an_incident_resolved_before_the_decision_cancels_the_approval(page) -> None:
    with running() as served:
        link = pending_link(served)
        assert open_page(page, link) == 200
        status, _ = post_alert(served, resolved_body())
        assert status == 202
        assert record(served, link).state == "cancelled"
        assert click(page, "Approve") == 409
        assert heading(page) == "Cancelled: no decision is needed"
        assert "cancelled" in page.locator("main").inner_text()
        assert open_page(page, link) == 409 and buttons(page) == 0
        assert request_timeout(served) == BEFORE
        assert "apply" not in [step for step, _ in audit_steps(served)]


def test_the_page_is_self_contained_and_sent_with_the_security_headers(page) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    with running() as served:
        link = pending_link(served)
        response = page.goto(link)
        headers = response.all_headers()
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        )
        assert requested == [link]  # no script, image, font or stylesheet fetched
        assert page.locator("script").count() == 0
        assert record(served, link).state == "pending"
