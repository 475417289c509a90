"""Why a balance was adjusted: the codes a record keeps and every door reads (a form's choices, a command's
``--reason``, an import's column, a request), with their words; here, below the models, so that a command's help
has them without declaring a model."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class AdjustmentReason(enum.StrEnum):
    """Why a balance was adjusted; ``other`` needs a description."""

    DATA_ENTRY_ERROR = "data_entry_error"
    GOODWILL = "goodwill"
    WRITE_OFF = "write_off"
    OTHER = "other"

    @property
    def label(self) -> str:
        """The reason in the reader's language (English outside a request)."""
        return {
            AdjustmentReason.DATA_ENTRY_ERROR: _l("Data entry error"),
            AdjustmentReason.GOODWILL: _l("Goodwill"),
            AdjustmentReason.WRITE_OFF: _l("Write off"),
            AdjustmentReason.OTHER: _l("Other"),
        }[self]
