"""A document's page or its PDF: the same template, drawn by the browser to print or by the server as a file."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user

from backoffice.models import DocumentKind, DocumentSending, SendingOutcome
from backoffice.services import documents, sending


def page_or_pdf(drawing: documents.Drawing, *, pdf: bool, **more) -> Response | str:
    """The document's page in the reader's language, or its PDF as a download in its customer's."""
    if not pdf:
        return drawing.html(**more)
    try:
        body = documents.drawn_pdf(drawing, base_url=request.url_root)
    except documents.DocumentsUnavailable:
        abort(503, description=_("Documents cannot be drawn as PDF here: the server lacks Pango. Print the page."))
    disposition = f'attachment; filename="{sending.file_name(drawing.name)}.pdf"'
    return Response(body, mimetype="application/pdf", headers={"Content-Disposition": disposition})


def sent(drawing: documents.Drawing, back_to: str) -> Response:
    """Send the document to its customer from its page, and say on the page what came of it."""
    try:
        body = documents.drawn_pdf(drawing, base_url=request.url_root)
        row = sending.send(drawing, body, user_id=current_user.id)
    except documents.DocumentsUnavailable:
        flash(_("Documents cannot be drawn as PDF here: the server lacks Pango. Print the page."), "error")
    except sending.SendingError as error:
        flash(str(error), "error")
    else:
        flash(said(row, drawing), "success" if row.outcome is SendingOutcome.SENT else "error")
    return redirect(back_to)


def said(row: DocumentSending, drawing: documents.Drawing) -> str:
    """What came of a sending, in the reader's words."""
    what = (
        _("Invoice %(number)s", number=drawing.reference)
        if drawing.kind is DocumentKind.INVOICE
        else _("The statement of account")
    )
    if row.outcome is SendingOutcome.NO_ADDRESS:
        return _(
            "%(customer)s has no e-mail address: nothing was sent. Write one on the customer's page.",
            customer=drawing.customer.code,
        )
    if row.outcome is SendingOutcome.REFUSED:
        return _(
            "%(document)s was not sent to %(address)s: the mail server answered %(reply)s",
            document=what,
            address=row.recipient,
            reply=row.server_reply,
        )
    return _("%(document)s sent to %(address)s: the mail server accepted it.", document=what, address=row.recipient)
