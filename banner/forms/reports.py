"""The GET forms of staff's lists and reports: periods, searches, filters and pages."""

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.fields import DateField
from wtforms.validators import (
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from banner.forms.fields import stripped


class ReportForm(FlaskForm):
    """The period and currency a report covers (a GET form: nothing to protect)."""

    class Meta:
        csrf = False

    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])
    currency = SelectField("Currency", validators=[Optional()])

    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.currency.choices = [SelectChoice(code, code.upper()) for code in currencies]

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end comes before the start.")


PAGE = [Optional(), NumberRange(1, 1_000_000, "Not a page number.")]
ORDERS = [SelectChoice("desc", "Descending"), SelectChoice("asc", "Ascending")]


class DonorSearchForm(FlaskForm):
    """The donor list's search, filter, sort and page (a GET form: nothing to protect)."""

    class Meta:
        csrf = False

    q = StringField("Name or e-mail", filters=[stripped], validators=[Length(max=254)])
    filter = SelectField("Show", default="all")
    sort = SelectField("Sort by", default="joined")
    order = SelectField("Order", choices=ORDERS, default="desc")
    page = IntegerField("Page", default=1, validators=PAGE)

    def __init__(self, *args, filters: dict[str, str], sorts: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.filter.choices = [SelectChoice(key, label) for key, label in filters.items()]
        self.sort.choices = [SelectChoice(key, label) for key, label in sorts.items()]


class ExportForm(FlaskForm):
    """The period of a CSV export: ?from=YYYY-MM-DD&to=YYYY-MM-DD, both days included."""

    class Meta:
        csrf = False

    start = DateField("From", name="from", validators=[InputRequired("Choose the first day.")])
    end = DateField("To", name="to", validators=[InputRequired("Choose the last day.")])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The last day comes before the first.")


class AuditFilterForm(FlaskForm):
    """The audit log's action filter and page (a GET form)."""

    class Meta:
        csrf = False

    action = SelectField("Action", default="")
    page = IntegerField("Page", default=1, validators=PAGE)

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.action.choices = [SelectChoice("", "All actions")] + [SelectChoice(a, a) for a in actions]
