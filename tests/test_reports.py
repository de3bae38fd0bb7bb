"""Reports on a small known history, checked against numbers worked out by hand."""

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    BannerStat,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Variant,
    utcnow,
)
from banner.services import campaigns, reports
from tests import factories

NOW = utcnow()
KEYS = reports.months_back(6, NOW.astimezone(ZoneInfo("America/New_York")).date())  # M-5 ... M0


def at(offset: int) -> datetime:
    """A moment in month M<offset> (0 is this month), never in the future."""
    start = reports.month_start(KEYS[5 + offset])
    return min(start + timedelta(days=1, hours=offset + 7), NOW - timedelta(seconds=5))


class History:
    def __init__(self):
        self.count = 0
        self.gifts: dict[str, Gift] = {}

    def gift(self, name, frequency, amount, when, article=None):
        self.count += 1
        donor = factories.donor(email=f"{name}@example.org", name=name.upper(), save=False)
        gift = factories.gift(
            frequency, GiftStatus.ACTIVE, donor=donor, amount=amount, article_url=article, save=False
        )
        db.session.add(gift)
        self._commit(gift, when)
        self.gifts[name] = gift
        return gift

    def change(self, gift, when, **fields):
        for key, value in fields.items():
            setattr(gift, key, value)
        self._commit(gift, when)

    def pay(self, gift, offset, amount=None, refunded=0):
        self.count += 1
        factories.payment(
            gift,
            amount=amount or gift.amount,
            currency="usd",
            amount_refunded=refunded,
            paid_at=at(offset),
            stripe_invoice_id=f"in_{self.count}",
        )

    def event(self, gift, kind, when, **data):
        gift.events.append(GiftEvent(kind=kind, actor=gift.events[0].actor, data=data, created_at=when))
        db.session.commit()

    @staticmethod
    def _commit(gift, when):
        with db.session.no_autoflush:
            seen = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(GiftEvent.id), 0)))
        db.session.commit()
        db.session.execute(sa.update(GiftEvent).where(GiftEvent.id > seen).values(created_at=when))
        db.session.commit()


@pytest.fixture
def history(app):
    h = History()
    a = h.gift("a", Frequency.MONTH, 1000, at(-5), article="https://news.example/a1")
    b = h.gift("b", Frequency.MONTH, 2000, at(-5))
    c = h.gift("c", Frequency.YEAR, 12000, at(-4))
    d = h.gift("d", Frequency.MONTH, 500, at(-4))
    h.change(a, at(-3), amount=1500)
    h.change(d, at(-3), status=GiftStatus.PAUSED)
    h.change(
        b,
        at(-2),
        status=GiftStatus.CANCELLED,
        cancelled_at=at(-2),
        cancellation_channel="donor",
        cancellation_reason="too_expensive",
        cancellation_comment="Too much for me",
    )
    h.change(d, at(-2), status=GiftStatus.ACTIVE)
    h.event(d, "save_offer", at(-2), offered=["pause"], taken="pause")
    h.change(
        c, at(-1), status=GiftStatus.CANCELLED, cancelled_at=at(-1), cancellation_channel="failed_payment"
    )
    e = h.gift("e", Frequency.MONTH, 800, at(-1))
    h.change(
        e, at(0), status=GiftStatus.CANCELLING, cancellation_channel="donor", cancellation_reason="coverage"
    )
    h.event(e, "cancel_request", at(0), offered=["pause", "lower"], taken=None)
    f = h.gift("f", Frequency.ONCE, 5000, at(-1), article="https://news.example/a1")
    g = h.gift("g", Frequency.ONCE, 10000, at(0), article="https://news.example/a2")
    for offset in (-5, -4):
        h.pay(a, offset, 1000)
    for offset in (-3, -2, -1, 0):
        h.pay(a, offset, 1500)
    for offset in (-5, -4, -3):
        h.pay(b, offset)
    h.pay(c, -4)
    for offset in (-4, -2, -1, 0):
        h.pay(d, offset)
    for offset in (-1, 0):
        h.pay(e, offset)
    h.pay(f, -1, refunded=2000)
    h.pay(g, 0)
    return h


def test_mrr_arr_and_active_donors_now(history):
    data = reports.recurring("usd", months=6)
    assert (data.mrr, data.arr, data.active_donors) == (2800, 33600, 3)  # a 15 + d 5 + e 8 (cancelling)


def test_the_monthly_waterfall(history):
    months = {m.key: m for m in reports.recurring("usd", months=6).months}
    expected = {
        -5: {"new": 3000},
        -4: {"new": 1500},
        -3: {"expansion": 500, "contraction": -500},
        -2: {"voluntary_churn": -2000, "reactivation": 500},
        -1: {"involuntary_churn": -1000, "new": 800},
        0: {},
    }
    for offset, moves in expected.items():
        got = {k: v for k, v in months[KEYS[5 + offset]].movements.items() if v}
        assert got == moves, offset
    assert [months[key].mrr_end for key in KEYS] == [3000, 4500, 4500, 3000, 2800, 2800]


def test_churn_rate_has_its_numerator_and_denominator(history, app):
    app.config["REPORT_MIN_DONORS"] = 3
    try:
        months = {m.key: m for m in reports.recurring("usd", months=6).months}
    finally:
        app.config["REPORT_MIN_DONORS"] = 20
    rates = [(months[k].churn.numerator, months[k].churn.denominator) for k in KEYS]
    # a paused donor is not giving, but not lost either
    assert rates == [(0, 0), (0, 2), (0, 4), (1, 3), (1, 3), (0, 3)]
    assert months[KEYS[4]].lost_involuntary == 1
    assert months[KEYS[3]].churn.too_few is False and months[KEYS[0]].churn.too_few is True
    assert months[KEYS[3]].churn.value == pytest.approx(1 / 3)


def test_a_shorter_window_starts_from_the_same_mrr_and_donors(history, app):
    """Three months reading only their own movements agree with the last three of six."""
    app.config["REPORT_MIN_DONORS"] = 3
    try:
        six = reports.recurring("usd", months=6).months[3:]
        three = reports.recurring("usd", months=3).months
    finally:
        app.config["REPORT_MIN_DONORS"] = 20
    assert [m.key for m in three] == KEYS[3:]
    assert [(m.mrr_end, m.active_start, m.churn) for m in three] == [(3000, 3, reports.Rate(1, 3, 3))] + [
        (m.mrr_end, m.active_start, m.churn) for m in six[1:]
    ]
    assert three == six


def test_overview_of_the_last_two_months(history):
    period = reports.Period(reports.month_start(KEYS[4]).date(), NOW.date())
    data = reports.overview("usd", period)
    assert data.raised == {"once": 13000, "month": 5600, "year": 0, "total": 18600}
    assert (data.refunded, data.payments, data.gifts, data.donors, data.average) == (2000, 8, 5, 5, 2325)


def test_overview_counts_gifts_and_payments_apart(viewer, history):
    start = reports.month_start(KEYS[4]).date()
    text = viewer.get(f"/staff/reports/overview?start={start}&end={NOW.date()}").text
    assert 'id="payments">8<' in text and 'id="gifts">5<' in text and " payments for " in text


def test_cancellations_by_reason_channel_and_save_offers(history):
    period = reports.Period(reports.month_start(KEYS[0]).date(), NOW.date())
    data = reports.cancellations("usd", period)
    assert data.total == 3
    assert dict(data.by_channel) == {"donor": 2, "failed_payment": 1}
    assert dict(data.by_reason) == {
        "It costs too much for me right now": 1,
        "I am unhappy with the coverage": 1,
        "No reason given": 1,
    }
    assert [comment.words for comment in data.comments] == ["Too much for me"]
    assert (data.offered, data.taken) == (2, [("pause", 1)])


def test_each_comment_names_the_donor_their_gift_and_how_long_they_gave(history):
    period = reports.Period(reports.month_start(KEYS[0]).date(), NOW.date())
    [comment] = reports.cancellations("usd", period).comments
    b = history.gifts["b"]
    assert (comment.donor_id, comment.donor_name) == (b.donor_id, "B")
    assert (comment.amount, comment.frequency, comment.months_given) == (2000, Frequency.MONTH, 3)
    assert comment.reason == "It costs too much for me right now" and comment.channel == "donor"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("financial", "My finances changed"),
        (None, "No reason given"),
        ("", "No reason given"),
        ("missing_features", "Missing features"),  # Stripe's feedback code, from its dashboard
    ],
)
def test_reasons_read_in_words(code, words):
    assert reports.reason_words(code) == words


def test_the_cancellations_page_links_each_comment_to_the_donor(viewer, history):
    b = history.gifts["b"]
    text = viewer.get("/staff/reports/cancellations").text
    assert f'href="/staff/donors/{b.donor_id}">B</a>' in text
    assert "$20 every month" in text and "3 months given" in text
    assert "It costs too much for me right now" in text and "too_expensive" not in text


def test_retention_cohorts_and_lifetime_value(history):
    data = reports.retention("usd", months=6)
    cohorts = {c.key: c for c in data.cohorts}
    first, second, fifth = cohorts[KEYS[0]], cohorts[KEYS[1]], cohorts[KEYS[4]]
    assert (first.donors, first.active) == (2, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    assert (second.donors, second.active) == (2, [1.0, 1.0, 1.0, 0.5, 0.5])
    assert (fifth.donors, fifth.active) == (1, [1.0, 1.0])
    assert (first.lifetime_value, second.lifetime_value, fifth.lifetime_value) == (7000, 7000, 1600)
    assert data.lifetime_value == 5920


def test_a_shorter_window_shows_the_same_cohorts(history):
    six = {c.key: c for c in reports.retention("usd", months=6).cohorts}
    three = reports.retention("usd", months=3)
    assert three.cohorts == [six[key] for key in KEYS[3:]]
    assert [c.donors for c in three.cohorts] == [0, 1, 0]  # e; d's resumption is no new donor
    assert three.lifetime_value == 5920


def test_top_articles(history):
    period = reports.Period(reports.month_start(KEYS[0]).date(), NOW.date())
    by_money, by_monthly = reports.top_articles("usd", period)
    assert [(a.url, a.money) for a in by_money] == [
        ("https://news.example/a1", 11000),
        ("https://news.example/a2", 10000),
    ]
    assert [(a.url, a.new_monthly_donors) for a in by_monthly] == [("https://news.example/a1", 1)]


@pytest.fixture
def viewer(client, app):
    staff = factories.staff("viewer", password_hash="x")
    with client.session_transaction() as session:
        session["_user_id"] = staff.get_id()
        session["seen_at"] = time.time()
        session["_fresh"] = True
    return client


@pytest.mark.parametrize(
    "page", ["overview", "recurring", "cancellations", "retention", "banners", "articles"]
)
def test_every_report_page_renders_a_chart_or_table(viewer, history, make_campaign, page):
    make_campaign()
    response = viewer.get(f"/staff/reports/{page}")
    assert response.status_code == 200
    assert "<table" in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_report_pages_show_the_worked_figures(viewer, history):
    text = viewer.get("/staff/reports/recurring").text
    assert 'id="mrr">$28<' in text and 'id="arr">$336<' in text
    assert '<svg class="chart"' in text and "too few to tell" in text


def test_report_pages_need_a_login(client):
    assert client.get("/staff/reports/overview").status_code == 302


def test_a_bad_period_falls_back_to_the_default(viewer, history):
    response = viewer.get("/staff/reports/overview?start=2026-13-01&end=x")
    assert response.status_code == 200


def test_database_sessions_run_without_jit(app):
    """PostgreSQL would JIT-compile the reports' aggregates, at a cost far above their own."""
    from banner import _without_jit

    postgresql = db.engine.dialect.name == "postgresql"
    assert sa.event.contains(db.engine, "do_connect", _without_jit) is postgresql  # SQLite has no JIT
    if postgresql:
        with db.engine.connect() as connection:  # a connection of the app's pool, as a request gets
            assert connection.exec_driver_sql("SHOW jit").scalar() == "off"


def test_the_jit_setting_keeps_the_urls_own_options():
    from banner import _without_jit

    params = {"options": "-csearch_path=reports"}
    _without_jit(None, None, [], params)
    assert params == {"options": "-csearch_path=reports -c jit=off"}


def add_yearly_gifts(count: int, amount: int, campaign=None) -> None:
    for n in range(count):
        donor = factories.donor(email=f"yearly{n}@example.org", name=f"Yearly {n}", save=False)
        variant = campaign.variants[0] if campaign else None
        db.session.add(
            factories.gift(
                Frequency.YEAR,
                GiftStatus.ACTIVE,
                donor=donor,
                amount=amount,
                campaign=campaign,
                variant=variant,
                save=False,
            )
        )
    db.session.commit()


def test_yearly_gifts_give_the_same_monthly_revenue_everywhere(app, make_campaign):
    campaign = make_campaign()
    add_yearly_gifts(12, 5000, campaign)  # each $50 a year: 416.67 a month, rounded to 417

    movements = db.session.scalar(sa.select(sa.func.sum(GiftEvent.mrr_delta)))
    (variant,) = campaigns.variant_results(campaign)

    assert movements == reports.recurring("usd", months=2).mrr == variant.new_monthly == 12 * 417


def test_monthly_revenue_starts_from_nothing_before_the_first_gift(app):
    add_yearly_gifts(12, 5000)

    months = reports.recurring("usd", months=2).months

    assert [m.mrr_end for m in months] == [0, 5004]
    assert [m.mrr_start for m in months] == [0, 0]


def test_negative_movements_read_with_a_minus_sign(viewer, history):
    text = viewer.get(f"/staff/reports/recurring?start={KEYS[0]}-01&end={NOW.date()}").text
    assert '\u2212$20.00 <span class="muted">(1)' in text and "$-" not in text  # b's voluntary churn
    assert "voluntary_churn: \u2212$20.00</title>" in text  # the chart's too


def test_a_gift_at_8_pm_on_new_year_s_eve_in_new_york_belongs_to_december(app):
    eve = datetime(2025, 12, 31, 20, tzinfo=ZoneInfo("America/New_York"))  # 1 am on 1 January in UTC
    gift = History().gift("eve", Frequency.MONTH, 1000, eve)
    factories.payment(gift, amount=1000, paid_at=eve.astimezone(reports.UTC), stripe_invoice_id="in_eve")
    december = reports.Period(date(2025, 12, 1), date(2025, 12, 31))
    january = reports.Period(date(2026, 1, 1), date(2026, 1, 31))

    months = reports.recurring("usd", period=reports.Period(december.start, january.end)).months

    assert reports.overview("usd", december).raised["month"] == 1000
    assert reports.overview("usd", january).raised["month"] == 0
    assert [(m.key, m.movements["new"]) for m in months] == [("2025-12", 1000), ("2026-01", 0)]
    assert [c.donors for c in reports.retention("usd", period=december).cohorts] == [1]


@pytest.mark.parametrize(
    "page", ["overview", "recurring", "cancellations", "retention", "banners", "articles"]
)
def test_every_report_shows_what_its_period_holds(viewer, history, make_campaign, page):
    campaign = make_campaign()
    day = at(-4).date()
    db.session.add(
        BannerStat(campaign_id=campaign.id, variant_id=campaign.variants[0].id, day=day, impressions=90)
    )
    db.session.commit()

    def shown(start: str, end: str) -> str:
        text = viewer.get(f"/staff/reports/{page}?start={start}&end={end}").text
        return text[text.index("</h1>") :]  # the report, after the heading that names the period

    early = shown(f"{KEYS[0]}-01", f"{KEYS[2]}-15")
    late = shown(f"{KEYS[3]}-01", str(NOW.date()))

    assert early != late


def test_banner_results_count_the_period_s_impressions_and_gifts(app, make_campaign):
    campaign = make_campaign()
    variant = campaign.variants[0]
    db.session.add(
        BannerStat(campaign_id=campaign.id, variant_id=variant.id, day=date(2026, 3, 2), impressions=90)
    )
    db.session.commit()
    march = reports.Period(date(2026, 3, 1), date(2026, 3, 31))
    april = reports.Period(date(2026, 4, 1), date(2026, 4, 30))

    (in_march,) = campaigns.variant_results(campaign, march.since, march.until)
    (in_april,) = campaigns.variant_results(campaign, april.since, april.until)

    assert (in_march.impressions, in_april.impressions) == (90, 0)


def test_a_variant_never_shown_says_no_data_yet(viewer, make_campaign):
    campaign = make_campaign(variants=[Variant(key="a", heading="Shown"), Variant(key="b", heading="Never")])
    db.session.add(
        BannerStat(
            campaign_id=campaign.id, variant_id=campaign.variants[0].id, day=date.today(), impressions=50
        )
    )
    db.session.commit()

    shown, never = campaigns.variant_results(campaign)
    text = viewer.get("/staff/reports/banners").text

    assert shown.probability_best == 1.0 and never.probability_best is None
    assert text.count("no data yet") == 1 and "100%</td>" in text
