"""The shared form fields' widgets write what WTForms' own write; a form's field is drawn by ``_form.html``'s macro
with its label, input, help and errors."""

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, soft_str
from wtforms import Form, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from backoffice.app import ROOT
from backoffice.web.plumbing.fields import QuickSelect

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


def drawn(field, attrs: dict | None = None) -> Markup:
    """A form's field as every form has drawn it: its label, its input (``attrs``: its attributes; an invalid
    field's says so), its help and its errors, each a Markup as given and any other text escaped."""
    attrs = dict(attrs or ())
    if field.errors:
        attrs["aria-invalid"] = "true"
    help_text = Markup('<small class="help">%s</small>') % soft_str(field.description) if field.description else ""
    return Markup(
        '<div class="field%s">\n  <label for="%s">%s</label>\n  \n  %s\n  %s\n'
        '  <div class="field-error" id="error-%s">%s</div>\n</div>'
    ) % (
        " has-error" if field.errors else "",
        field.id,
        soft_str(field.label.text),
        field(**attrs),
        help_text,
        field.name,
        Markup(" ").join(map(soft_str, field.errors)),
    )


TEMPLATES = Environment(loader=FileSystemLoader(ROOT / "templates"), autoescape=True)


@settings(max_examples=300, deadline=None)
@given(
    TEXT,
    TEXT | TEXT.map(Markup),
    st.lists(TEXT | TEXT.map(Markup), max_size=3),
    st.dictionaries(st.sampled_from(("inputmode", "type", "hx-post", "readonly")), TEXT | st.booleans()),
)
def test_a_form_field_is_drawn_with_its_label_input_help_and_errors(label, description, errors, attrs):
    class Plain(Form):
        field = StringField(label, description=description)

    field = Plain().field
    field.errors = errors
    macro = TEMPLATES.get_template("_form.html").module.field
    assert macro(field, attrs) == drawn(field, attrs)
    assert macro(field) == drawn(field)
