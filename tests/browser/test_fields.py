"""Custom fields and the lead's source in a real browser: a visitor comes from a LinkedIn campaign,
answers the form's own questions and confirms; the marketer finds source and answers on the leads
page and the source in the funnel."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CLI
from tests.browser.test_admin import admin_password, sign_in  # noqa: F401  (admin_password is a fixture)
from tests.browser.test_double_opt_in import open_newest_mail
from tests.support.app import DEMO_FORM, ROOT

pytestmark = pytest.mark.browser

QUESTIONS = """
[[custom_fields]]
key = "job_title"
label = "Functie"
max_length = 100

[[custom_fields]]
key = "company_size"
label = "Bedrijfsgrootte"
type = "choice"
required = true
choices = ["1-10", "11-50", "51-250", "250+"]
"""


@pytest.fixture(scope="module")
def form_with_questions(live_server, tmp_path_factory):
    """The demo form with two questions of its own, imported as a new version."""
    folder = tmp_path_factory.mktemp("questions")
    (folder / "form.toml").write_text(DEMO_FORM.read_text() + QUESTIONS)
    (folder / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    subprocess.run([*CLI, "forms", "import", str(folder / "form.toml")], env=live_server.env, cwd=ROOT, check=True)
    return live_server


def test_a_linkedin_visitor_answers_the_questions_and_the_marketer_sees_source_and_answers(
    page,
    form_with_questions,
    admin_password,  # noqa: F811
):
    base = form_with_questions
    visitor = page.context.new_page()
    # Given a visitor who followed a campaign link from LinkedIn
    visitor.goto(
        f"{base}/f/sales-machine?utm_source=linkedin&utm_campaign=q4",
        referer="https://www.linkedin.com/feed/update/123?trk=private-token",
    )
    visitor.get_by_label("E-mailadres").fill("inkoper@example.com")
    visitor.get_by_label("Functie").fill("Head of Sales")
    visitor.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    # When the required question is left unanswered, the form comes back asking for it, typing kept
    visitor.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(visitor.locator("#cf_company_size-error")).to_have_text("Beantwoord deze vraag.")
    expect(visitor.get_by_label("Functie")).to_have_value("Head of Sales")
    visitor.get_by_label("Bedrijfsgrootte").select_option("11-50")
    visitor.wait_for_timeout(1100)  # the page sent back is a new form, with its own minimum fill time
    visitor.screenshot(path="/tmp/fields-form.png", full_page=True)
    visitor.get_by_role("button", name="Stuur mij de whitepaper").click()
    expect(visitor.get_by_role("heading", name="Kijk in je mailbox")).to_be_visible()
    # And confirms from the mail, where the answers are shown with the details to keep
    text = open_newest_mail(visitor, base, "Bevestig")
    visitor.goto(re.search(r"(http\S+/c/\S+)", text).group(1))
    expect(visitor.get_by_text("Head of Sales")).to_be_visible()
    visitor.get_by_role("button", name="Bevestig", exact=True).click()
    expect(visitor.get_by_text("Head of Sales")).to_have_count(0)  # the page moved on: confirmed
    visitor.close()

    # Then the marketer filters the leads by source and sees it with the answers
    sign_in(page, base, admin_password)
    page.goto(f"{base}/admin/leads")
    page.get_by_label("Source (utm_source)").select_option("linkedin")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("inkoper@example.com")
    expect(row.locator("td.source")).to_contain_text("linkedin")
    expect(row.locator("td.source")).to_contain_text("q4")
    expect(row.locator("td.source")).to_contain_text("https://www.linkedin.com/feed/update/123")
    expect(row.locator("td.source")).not_to_contain_text("private-token")  # the referrer's query is never kept
    expect(row.locator("td.answers")).to_contain_text("Functie")
    expect(row.locator("td.answers")).to_contain_text("Head of Sales")
    expect(row.locator("td.answers")).to_contain_text("11-50")
    page.screenshot(path="/tmp/fields-leads.png", full_page=True)
    # And "direct" finds only the leads without a source
    page.get_by_label("Source (utm_source)").select_option("direct")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("tbody")).not_to_contain_text("inkoper@example.com")

    # And the funnel counts the request and its confirmation under the source
    page.goto(f"{base}/admin/forms/sales-machine/funnel")
    linkedin = page.locator("#sources tbody tr", has_text="linkedin")
    expect(linkedin.locator("td").nth(1)).to_have_text("1")  # asked
    expect(linkedin.locator("td").nth(2)).to_have_text("1")  # confirmed
    page.locator("#f-sources").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/fields-funnel.png", full_page=True)
