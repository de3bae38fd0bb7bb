"""Staff reports: overview, recurring revenue, cancellations, retention, banners and articles."""

from datetime import timedelta

from flask import Blueprint, render_template, request

from banner import charts
from banner.forms.reports import ReportForm
from banner.models import Role
from banner.money import format_amount
from banner.services import campaigns, reports
from banner.views import requires

bp = Blueprint("reports", __name__, url_prefix="/staff/reports")
STAFF = (Role.VIEWER, Role.FUNDRAISER, Role.ADMIN)  # every role reads the reports


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _query(default_days: int = 30) -> tuple[ReportForm, reports.Period, str]:
    """Read the period and currency from the query string; the last `default_days` by default."""
    choices = reports.currencies()
    form = ReportForm(request.args, currencies=choices)
    valid = form.validate()
    today = reports.today()
    start = form.start.data if valid and form.start.data else today - timedelta(days=default_days - 1)
    end = form.end.data if valid and form.end.data else today
    currency = form.currency.data if valid and form.currency.data in choices else choices[0]
    form.start.data, form.end.data, form.currency.data = start, end, currency
    return form, reports.Period(start, end), currency


def _show(currency: str):
    return lambda minor: format_amount(minor, currency)


@bp.get("/overview")
@requires(*STAFF)
def overview():
    form, period, currency = _query()
    data = reports.overview(currency, period)
    chart = charts.bars(
        "Live campaigns' progress",
        [(c.title, p.raised, p.goal) for c, p in data.live_campaigns],
        _show(currency),
    )
    return render_template("reports/overview.html", form=form, period=period, data=data, chart=chart)


@bp.get("/recurring")
@requires(*STAFF)
def recurring():
    form, period, currency = _query(365)
    data = reports.recurring(currency, period=period)
    mrr_chart = charts.line(
        "Monthly recurring revenue at the end of each month",
        [(m.key, m.mrr_end) for m in data.months],
        _show(currency),
    )
    waterfall = charts.waterfall(
        "MRR movements per month", [(m.key, m.movements) for m in data.months], _show(currency)
    )
    return render_template(
        "reports/recurring.html",
        form=form,
        period=period,
        data=data,
        mrr_chart=mrr_chart,
        waterfall=waterfall,
        movements=reports.MOVEMENTS,
        colours=charts.MOVEMENT_COLOURS,
    )


@bp.get("/cancellations")
@requires(*STAFF)
def cancellations():
    form, period, currency = _query(90)
    data = reports.cancellations(currency, period)
    return render_template("reports/cancellations.html", form=form, period=period, data=data)


@bp.get("/retention")
@requires(*STAFF)
def retention():
    form, period, currency = _query(365)
    data = reports.retention(currency, period=period)
    chart = charts.heatmap(
        "Share of each month's new monthly donors still giving, by months since",
        [(c.key, c.active) for c in data.cohorts],
    )
    return render_template(
        "reports/retention.html", form=form, period=period, data=data, chart=chart, currency=currency
    )


@bp.get("/banners")
@requires(*STAFF)
def banners():
    form, period, _ = _query(90)
    results = [(c, campaigns.variant_results(c, period.since, period.until)) for c in reports.campaign_list()]
    return render_template("reports/banners.html", form=form, period=period, results=results)


@bp.get("/articles")
@requires(*STAFF)
def articles():
    form, period, currency = _query(90)
    by_money, by_monthly = reports.top_articles(currency, period)
    return render_template(
        "reports/articles.html",
        form=form,
        period=period,
        by_money=by_money,
        by_monthly=by_monthly,
        currency=currency,
    )
