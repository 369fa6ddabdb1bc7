"""The history's list filters: a typed date range, the models, stop reasons and error codes in use, deletion by the user."""

from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from chat.admin.stream_details import stop_reason_label
from chat.models import CatalogEntry, Message


class CreatedRangeFilter(admin.ListFilter):
    """Messages created from one day to another (both included), typed as dates."""

    title = "date range"
    template = "admin/chat/filters/date_range.html"
    parameters = ("created_from", "created_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def day(self, name):
        value = self.used_parameters.get(name)
        if not value:
            return None
        try:
            return forms.DateField().clean(value)
        except forms.ValidationError:
            raise IncorrectLookupParameters(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None

    def queryset(self, request, queryset):
        zone = timezone.get_current_timezone()
        start, end = self.day("created_from"), self.day("created_to")
        if start:
            queryset = queryset.filter(created__gte=datetime.combine(start, time.min, tzinfo=zone))
        if end:
            queryset = queryset.filter(created__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone))
        return queryset

    def choices(self, changelist):
        # One "choice": what the template needs to draw a small GET form that keeps the other filters.
        kept = [(name, value) for name, value in changelist.params.items() if name not in self.parameters]
        yield {
            "values": {name: self.used_parameters.get(name, "") for name in self.parameters},
            "kept": kept,
            "clear": changelist.get_query_string(remove=list(self.parameters)),
            "selected": bool(self.used_parameters),
        }


class ModelKeyFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model_key"

    def lookups(self, request, model_admin):
        keys = Message.objects.order_by("model_key").values_list("model_key", flat=True).distinct()
        labels = dict(CatalogEntry.objects.values_list("key", "label"))
        return [(key, f"{labels[key]} ({key})" if key in labels else key) for key in keys]

    def queryset(self, request, queryset):
        return queryset.filter(model_key=self.value()) if self.value() else queryset


class ErrorCodeFilter(admin.SimpleListFilter):
    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        # Codes are set on failed messages only: the status index keeps this off the rest of the table.
        failed = Message.objects.filter(status=Message.Status.ERROR).exclude(error_code="")
        codes = failed.order_by("error_code").values_list("error_code", flat=True).distinct()
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(error_code=self.value()) if self.value() else queryset


class StopReasonFilter(admin.SimpleListFilter):
    title = "stop reason"
    parameter_name = "stop_reason"

    def lookups(self, request, model_admin):
        reasons = Message.objects.exclude(stop_reason="").order_by("stop_reason").values_list("stop_reason", flat=True).distinct()
        return [(reason, stop_reason_label(reason)) for reason in reasons]

    def queryset(self, request, queryset):
        return queryset.filter(stop_reason=self.value()) if self.value() else queryset


class DeletedByUserFilter(admin.SimpleListFilter):
    title = "deleted by the user"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset
