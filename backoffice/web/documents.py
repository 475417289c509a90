"""A document's page or its PDF: the same template, drawn by the browser to print or by the server as a file."""

from __future__ import annotations

import re

from flask import Response, abort, request
from flask_babel import force_locale
from flask_babel import gettext as _

from backoffice.services import documents, sending


def page_or_pdf(drawing: documents.Drawing, *, pdf: bool, **more) -> Response | str:
    """The document's page in the reader's language, or its PDF as a download in its customer's."""
    if not pdf:
        return drawing.html(**more)
    with force_locale(sending.language_of(drawing.customer)):
        return pdf_download(drawing.name, drawing.html(as_pdf=True, **more))


def pdf_download(name: str, html: str) -> Response:
    try:
        body = documents.pdf(html, base_url=request.url_root)
    except documents.DocumentsUnavailable:
        abort(503, description=_("Documents cannot be drawn as PDF here: the server lacks Pango. Print the page."))
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{file_name(name)}.pdf"'},
    )


def file_name(name: str) -> str:
    """A file's name made of what a name holds safely everywhere (``invoice-INV_1``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
