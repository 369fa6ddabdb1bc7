"""The usage dashboard's form: a date range (the last week by default), a model and a user."""

from datetime import date, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from chat.dashboard.queries import Scope
from chat.models import CatalogEntry, Message, UsageMonth

DEFAULT_DAYS = 7
MAX_DAYS = 366
# No history is older; and the range's arithmetic (a week either side) overflows near year 1 and 9999.
EARLIEST = date(2000, 1, 1)


def latest() -> date:
    return timezone.localdate() + timedelta(days=1)  # tomorrow: for staff in a time zone ahead of the server's


class DashboardForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    # Any key may be asked for; the list offered is set by offer_models() from the range's own figures.
    model = forms.CharField(required=False, max_length=200, label="Model", widget=forms.Select)
    user = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="User")

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        # Users who have sent a message: those in the monthly usage rollup (a few rows a month) and those streaming now.
        users = get_user_model().objects.filter(
            Q(pk__in=UsageMonth.objects.users_own().values("user_id")) | Q(pk__in=Message.objects.streaming().values("user_id"))
        ).order_by("username")
        self.fields["user"].choices = [("", "All users")] + [(user.pk, user.get_username()) for user in users]
        for name in ("start", "end"):  # the browser's date picker offers only these days
            self.fields[name].widget.attrs.update(min=EARLIEST.isoformat(), max=latest().isoformat())

    def offer_models(self, keys) -> None:
        labels = dict(CatalogEntry.objects.values_list("key", "label"))
        keys = sorted(set(keys) | set(labels) | ({self.data.get("model")} - {None, ""}))
        self.fields["model"].widget.choices = [("", "All models")] + [
            (key, f"{labels[key]} ({key})" if key in labels else key) for key in keys
        ]

    def clean_start(self):
        return self._within_bounds("start")

    def clean_end(self):
        return self._within_bounds("end")

    def _within_bounds(self, name: str) -> date | None:
        day, last = self.cleaned_data.get(name), latest()
        if day is not None and not EARLIEST <= day <= last:
            raise forms.ValidationError(f"Choose a day from {EARLIEST:%-d %B %Y} to {last:%-d %B %Y}.")
        return day

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return cleaned

    def scope(self) -> Scope:
        """The range to show: the valid choices, with the last 7 days (today included) for the rest."""
        today = timezone.localdate()
        cleaned = self.cleaned_data if self.is_valid() else {}
        end = cleaned.get("end") or (cleaned["start"] + timedelta(days=DEFAULT_DAYS - 1) if cleaned.get("start") else today)
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        return Scope(start=start, end=end, model_key=cleaned.get("model") or "", user_id=cleaned.get("user"))
