"""Staff editing campaigns and their banner variants."""

import re
from datetime import UTC

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    BooleanField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import DateTimeLocalField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from banner.forms.fields import check_amount, lines, stripped
from banner.models import CURRENCIES, Campaign, Variant
from banner.money import AmountError, format_amount, major_units, parse_amount

#: the largest goal the database column holds, in minor units
MAX_GOAL = 2**31 - 1
MAX_PRESETS = 6  # what fits on one line of the banner
RESERVED_NAMES = {"new"}  # "/staff/campaigns/new" is the new-campaign form, not a campaign
SLUG = r"^[a-z0-9-]+$"
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]  # what datetime-local inputs send
LONG_TEXT = Length(max=5000, message="Use at most 5000 characters.")
DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")

GOAL_MODES = [
    SelectChoice("raised", "Money raised"),
    SelectChoice("committed", "Committed (a year of monthly gifts)"),
]
STATUSES = [
    SelectChoice("draft", "Draft"),
    SelectChoice("live", "Live"),
    SelectChoice("paused", "Paused"),
    SelectChoice("ended", "Ended"),
]
PLACEMENTS = [
    SelectChoice("top", "Bar at the top"),
    SelectChoice("bottom", "Bar at the bottom"),
    SelectChoice("slot", "The page's reserved slot"),
]
THEMES = [SelectChoice("light", "Light"), SelectChoice("dark", "Dark")]
AUDIENCES = [SelectChoice("all", "All readers"), SelectChoice("former", "Former donors")]


def parse_presets(text: str | None, currency: str) -> list[int]:
    """Turn "5, 10, 25" into minor units, or raise ValidationError naming the bad amount."""
    amounts = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        try:
            amounts.append(check_amount(item, currency))
        except ValidationError as error:
            raise ValidationError(f"“{item.strip()}”: {error}") from None
    if len(amounts) > MAX_PRESETS:
        raise ValidationError(f"Suggest at most {MAX_PRESETS} amounts.")
    return amounts


def check_paths(field):
    bad = [path for path in lines(field.data) if not path.startswith("/")]
    if bad:
        raise ValidationError(f"Start each path with /: {', '.join(bad)}.")


def not_reserved(form, field):
    if field.data in RESERVED_NAMES:
        raise ValidationError(f"“{field.data}” is reserved; choose another.")


class CampaignForm(FlaskForm):
    slug = StringField(
        "Slug (in the embed tag and links)",
        filters=[stripped],
        validators=[
            DataRequired("Give the campaign a slug."),
            Length(max=60, message="Use at most 60 characters."),
            Regexp(SLUG, message="Use lower-case letters, digits and hyphens only."),
            not_reserved,
        ],
    )
    title = StringField(
        "Title",
        filters=[stripped],
        validators=[
            DataRequired("Give the campaign a title."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    description = TextAreaField(
        "Description (on the donate page)",
        filters=[stripped],
        validators=[LONG_TEXT],
    )
    goal = StringField("Goal", filters=[stripped], validators=[DataRequired("Set a goal, like 25000.")])
    currency = SelectField(
        "Currency", choices=[SelectChoice(code, code.upper()) for code in CURRENCIES], default="usd"
    )
    goal_mode = SelectField("Count towards the goal", choices=GOAL_MODES, default="raised")
    status = SelectField("Status", choices=STATUSES, default="draft")
    starts_at = DateTimeLocalField(
        "Starts (UTC)",
        format=DATETIME_FORMATS,
        tz=UTC,  # type: ignore[call-arg]  # new in WTForms 3.3; the stubs are 3.2's
        validators=[Optional()],
        description="Empty: as soon as it is live.",
    )
    ends_at = DateTimeLocalField(
        "Ends (UTC)",
        format=DATETIME_FORMATS,
        tz=UTC,  # type: ignore[call-arg]  # new in WTForms 3.3; the stubs are 3.2's
        validators=[Optional()],
        description="Empty: no end.",
    )
    priority = IntegerField(
        "Priority",
        default=0,
        validators=[
            InputRequired("Enter a whole number."),
            NumberRange(-1000, 1000, "Use a whole number from -1000 to 1000."),
        ],
        description="When several live campaigns target a page, the highest priority shows.",
    )
    preset_amounts = StringField(
        "Suggested amounts", description="Whole or decimal amounts, separated by commas: 5, 10, 25"
    )
    path_include = TextAreaField(
        "Only on paths starting with",
        validators=[LONG_TEXT],
        description="One per line, like /news/. Empty: everywhere.",
    )
    path_exclude = TextAreaField(
        "Never on paths starting with", validators=[LONG_TEXT], description="One per line."
    )
    referrer_domains = TextAreaField(
        "Only for readers coming from",
        filters=[lambda text: (text or "").lower()],
        validators=[LONG_TEXT],
        description="One domain per line, like facebook.com. Empty: anyone.",
    )
    placement = SelectField("Placement", choices=PLACEMENTS, default="bottom")
    dismiss_days = IntegerField(
        "Days hidden after a reader closes it",
        default=14,
        validators=[InputRequired("Enter a number of days."), NumberRange(0, 3650, "Use 0 to 3650 days.")],
    )
    gave_hide_days = IntegerField(
        "Days hidden after a reader gives once",
        description="Then the reader sees the variants for former donors. A monthly or yearly donor "
        "sees no banner until they cancel and their paid period ends.",
        default=365,
        validators=[InputRequired("Enter a number of days."), NumberRange(0, 3650, "Use 0 to 3650 days.")],
    )
    daily_cap = IntegerField(
        "Impressions per reader per day",
        validators=[Optional(), NumberRange(1, 1000, "Use 1 to 1000, or leave it empty for no cap.")],
        description="Empty: no cap.",
    )

    @classmethod
    def editing(cls, campaign: Campaign | None) -> "CampaignForm":
        """Return the form filled in from `campaign`, or empty for a new campaign."""
        if campaign is None:
            return cls(formdata=None)
        currency = campaign.currency
        return cls(
            formdata=None,
            slug=campaign.slug,
            title=campaign.title,
            description=campaign.description,
            goal=major_units(campaign.goal_amount, currency),
            currency=currency,
            goal_mode=campaign.goal_mode.value,
            status=campaign.status.value,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            priority=campaign.priority,
            preset_amounts=", ".join(major_units(amount, currency) for amount in campaign.preset_amounts),
            path_include="\n".join(campaign.path_include),
            path_exclude="\n".join(campaign.path_exclude),
            referrer_domains="\n".join(campaign.referrer_domains),
            placement=campaign.placement.value,
            dismiss_days=campaign.dismiss_days,
            gave_hide_days=campaign.gave_hide_days,
            daily_cap=campaign.daily_cap,
        )

    def validate_goal(self, field):
        if self.currency.data not in CURRENCIES:
            return
        try:
            self.goal_minor = parse_amount(field.data, self.currency.data)
        except AmountError as error:
            raise ValidationError(str(error)) from None
        if self.goal_minor > MAX_GOAL:
            raise ValidationError(f"Set a goal under {format_amount(MAX_GOAL, self.currency.data)}.")

    def validate_ends_at(self, field):
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError("The campaign must end after it starts.")

    def validate_preset_amounts(self, field):
        if self.currency.data in CURRENCIES:
            self.presets_minor = parse_presets(field.data, self.currency.data)

    def validate_path_include(self, field):
        check_paths(field)

    def validate_path_exclude(self, field):
        check_paths(field)

    def validate_referrer_domains(self, field):
        bad = [domain for domain in lines(field.data) if not DOMAIN.match(domain)]
        if bad:
            raise ValidationError(f"Not a domain: {', '.join(bad)}. Write it like facebook.com.")


class VariantForm(FlaskForm):
    key = StringField(
        "Key (short name in reports and links)",
        filters=[stripped],
        validators=[
            DataRequired("Give the variant a key, like a or b."),
            Regexp(r"^[a-z0-9-]{1,40}$", message="Use 1 to 40 lower-case letters, digits and hyphens."),
            not_reserved,
        ],
    )
    heading = StringField(
        "Heading",
        filters=[stripped],
        validators=[
            DataRequired("Write a heading."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    body = TextAreaField(
        "Text", filters=[stripped], validators=[Length(max=2000, message="Use at most 2000 characters.")]
    )
    button_text = StringField(
        "Button",
        default="Give now",
        filters=[stripped],
        validators=[
            DataRequired("Write the button's text."),
            Length(max=60, message="Use at most 60 characters."),
        ],
    )
    preset_amounts = StringField(
        "Suggested amounts", description="Separated by commas: 5, 10, 25. Empty: the campaign's."
    )
    default_once = StringField("Amount chosen at first, once", description="Empty: none chosen.")
    default_month = StringField("Amount chosen at first, monthly")
    default_year = StringField("Amount chosen at first, yearly")
    popular_label = BooleanField("Call the chosen amount “Most popular”")
    theme = SelectField("Theme", choices=THEMES, default="light")
    weight = IntegerField(
        "Weight",
        default=1,
        validators=[
            InputRequired("Enter a whole number."),
            NumberRange(0, 1000, "Use a whole number from 0 to 1000."),
        ],
        description="Its share of readers relative to the other variants; 0 stops showing it.",
    )
    audience = SelectField("Audience", choices=AUDIENCES, default="all")

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency_code = currency  # the campaign's: suggested amounts are in it

    @classmethod
    def editing(cls, variant: Variant | None, currency: str) -> "VariantForm":
        """Return the form filled in from `variant`, or empty for a new variant."""
        if variant is None:
            return cls(formdata=None, currency=currency)
        return cls(
            formdata=None,
            currency=currency,
            key=variant.key,
            heading=variant.heading,
            body=variant.body,
            button_text=variant.button_text,
            preset_amounts=", ".join(
                major_units(amount, currency) for amount in variant.preset_amounts or ()
            ),
            theme=variant.theme,
            weight=variant.weight,
            audience=variant.audience,
            popular_label=variant.popular_label,
            **{
                f"default_{frequency}": major_units(amount, currency)
                for frequency, amount in (variant.default_amounts or {}).items()
            },
        )

    def validate_preset_amounts(self, field):
        self.presets_minor = parse_presets(field.data, self.currency_code) or None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        self.defaults_minor: dict[str, int] = {}
        for frequency in ("once", "month", "year"):
            field = getattr(self, f"default_{frequency}")
            if not (field.data or "").strip():
                continue
            try:
                self.defaults_minor[frequency] = check_amount(field.data, self.currency_code)
            except ValidationError as error:
                field.errors = [*field.errors, str(error)]
                valid = False
        return valid


class RestoreForm(FlaskForm):
    """The one-click restore of an earlier version of a campaign or variant: its CSRF token only."""
