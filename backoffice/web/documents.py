"""A document's page or its PDF: the same template, drawn by the browser to print or by the server as a file."""

from __future__ import annotations

import re

from flask import Response, abort, render_template, request
from flask_babel import gettext as _

from backoffice.services import documents


def page_or_pdf(template: str, pdf_name: str | None, **context) -> Response | str:
    """The document's page, or with ``pdf_name`` (``invoice-INV-1``) its PDF as a download of that name."""
    if pdf_name is None:
        return render_template(template, **context)
    return pdf_download(pdf_name, render_template(template, as_pdf=True, **context))


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
