"""Serializer fields that hold to the JSON types the API documents."""

from __future__ import annotations

from rest_framework import serializers

# DRF's fields accept "60" for an integer, 12 for a string and "yes" for a boolean.
# The API documents JSON types and holds to them, so a client's type mistake is a
# 400 naming the field instead of a silent conversion.


class StrictCharField(serializers.CharField):
    """Also checks max_length on the string as sent: DRF trims whitespace first
    (control characters such as U+001F count as whitespace), so 201 characters
    could pass a limit of 200 that the schema states as maxLength."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"not_an_integer": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data):
        if data is None and self.allow_null:
            return None
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class RefuseUnknownFieldsMixin:
    """A serializer that names the fields it does not know instead of ignoring
    them, so a typo ("enabeld") is a 400, not a silent no-op. Read-only fields
    are known: a client may send back what it read."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown field."] for key in unknown}
                )
        return super().to_internal_value(data)
