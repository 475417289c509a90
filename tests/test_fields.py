"""The shared form fields' widgets write what WTForms' own write."""

from hypothesis import given, settings
from hypothesis import strategies as st
from wtforms import Form, SelectField
from wtforms.fields.choices import SelectChoice

from backoffice.web.fields import QuickSelect

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
