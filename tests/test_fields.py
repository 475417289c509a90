"""The shared form fields' widgets write what WTForms' own write; a form's field is drawn as the template's
macro drew it."""

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import Environment
from markupsafe import Markup
from wtforms import Form, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets.core import html_params

from backoffice.web.fields import QuickSelect, form_field, quick_params

TEXT = st.text(alphabet=st.sampled_from("ab <>&\"'é—0"), max_size=6)
CHOICE = st.builds(
    SelectChoice,
    value=st.integers(-3, 3) | TEXT | st.booleans(),
    label=TEXT | st.none(),
    render_kw=st.none() | st.dictionaries(st.sampled_from(("disabled", "data-x", "class")), TEXT | st.booleans()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(CHOICE, max_size=8), st.integers(-3, 3) | TEXT, st.booleans())
def test_a_quick_select_writes_what_wtforms_select_writes(choices, data, required):
    class Plain(Form):
        field = SelectField(choices=choices, coerce=str, render_kw={"required": True} if required else None)

    class Quick(Form):
        field = SelectField(choices=choices, coerce=str, widget=QuickSelect())

    plain, quick = Plain(data={"field": str(data)}), Quick(data={"field": str(data)})
    render_kw = {"required": True} if required else {}
    assert quick.field(**render_kw) == plain.field()


ATTRIBUTES = st.dictionaries(
    st.sampled_from(("id", "type", "value", "class_", "data_amount", "aria_x", "hx-post", "required", "readonly")),
    TEXT | TEXT.map(Markup) | st.booleans() | st.integers(-3, 3) | st.none(),
)


@settings(max_examples=300, deadline=None)
@given(ATTRIBUTES)
def test_quick_params_write_what_wtforms_html_params_write(attributes):
    assert quick_params(**attributes) == html_params(**attributes)


MACRO = """{% macro field(f, attrs={}) -%}
<div class="field{% if f.errors %} has-error{% endif %}">
  <label for="{{ f.id }}">{{ f.label.text | string }}</label>
  {% set attrs = dict(attrs) %}{% if f.errors %}{% set _ = attrs.update({'aria-invalid': 'true'}) %}{% endif %}
  {{ f(**attrs) }}
  {% if f.description %}<small class="help">{{ f.description | string }}</small>{% endif %}
  <div class="field-error" id="error-{{ f.name }}">{{ f.errors | map('string') | join(' ') }}</div>
</div>
{%- endmacro %}"""
"""The macro ``_form.html`` drew each field with."""


@settings(max_examples=300, deadline=None)
@given(
    TEXT,
    TEXT | TEXT.map(Markup),
    st.lists(TEXT | TEXT.map(Markup), max_size=3),
    st.dictionaries(st.sampled_from(("inputmode", "type", "hx-post", "readonly")), TEXT | st.booleans()),
)
def test_a_form_field_is_drawn_as_the_macro_drew_it(label, description, errors, attrs):
    class Plain(Form):
        field = StringField(label, description=description)

    field = Plain().field
    field.errors = errors
    macro = Environment(autoescape=True).from_string(MACRO).module.field
    assert form_field(field, attrs) == macro(field, attrs)
    assert form_field(field) == macro(field)
