"""An import checked whole, then written in chunks, then reported.

Checking reads every row of the file and writes nothing. Writing checks the file again a chunk at a time, each chunk
under the lock on the import's kind and written in the same transaction, which also counts what it wrote: what it
writes is what it found good then, an import stopped halfway can be run again and writes only the rest, and the file
is read once more for its report.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from backoffice.imports.approval import (
    Declined,
    NeedsAsker,
    NotAsApproved,
    WaitsAlready,
    approved,
    decided_whole,
    refuse_beyond_the_limit,
    waits_for_approval,
)
from backoffice.imports.checked import (
    CHUNK,
    SHOWN_REJECTIONS,
    ChangedSinceChecked,
    Checked,
    RefusedWhenWritten,
    Rejection,
    Waiting,
)
from backoffice.imports.files import Row as FileRow
from backoffice.imports.files import Table, Unreadable, read_table
from backoffice.imports.kept import keep_file, kept_file_at, shown_name
from backoffice.imports.kinds import ImportKind, Row
from backoffice.imports.mapping import Mapping, remembered, used
from backoffice.imports.reported import columns_of, preview, report
from backoffice.imports.rows import (
    CHANGES,
    Batch,
    batches,
    different,
    read_row,
    reject,
    required,
    resolved,
    shown_value,
)
from backoffice.imports.said import STOPPED, kind_of
from backoffice.imports.written import AS_THE_INSTALLATION, Written, found_in
from backoffice.jobs.queues import _queued, queue, redis_url
from backoffice.models import (
    Import,
    ImportStatus,
    User,
)
from backoffice.models.history import acting
from backoffice.models.types import utcnow
from backoffice.platform.databases import advisory_key, analyze_due
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES
from backoffice.posting.refusals import already_recorded
from backoffice.services import cut_over, one_unit


def open_table(
    kind: ImportKind,
    path: Path,
    filename: str,
    mapping: Mapping | None = None,
    encoding: str | None = None,
    written: Written = AS_THE_INSTALLATION,
    updates: tuple[str, ...] = (),
) -> Table:
    """The file read as a table of the kind, its headers chosen by ``mapping`` (else as remembered, else by their
    words), a text file in ``encoding`` (else its own, or guessed), its amounts and dates as ``written`` says (else
    as its cells say, else as the installation writes them), filling or changing the fields ``updates`` names of the
    records that exist; :class:`Unreadable` if it is not one (a required column missing: where it updates, its key's
    alone)."""
    table = read_table(
        path, filename, kind.columns(), mapping=remembered(kind) if mapping is None else mapping, encoding=encoding
    )
    if written.decimal is None or written.dates is None:
        numbers, dates = kind.holding("number"), kind.holding("date")
        written = written.over(found_in((row.values for row in table.rows()), numbers, dates))
    table = replace(table, written=written, updates=tuple(updates))
    missing = [f for f in kind.fields if required(kind, table, f.name) and f.name not in table.columns]
    if missing:
        raise MissingColumns(
            table,
            [f.name for f in missing],
            _(
                "The file has no column %(columns)s (its header row is line %(line)s: %(header)s). Map one of its "
                "columns to it.",
                columns=", ".join(str(f.label) for f in missing),
                line=table.header_line,
                header=", ".join(header for header, _field in table.headers),
            ),
        )
    return table


def table_of(record: Import, kind: ImportKind, path: Path) -> Table:
    """An import's file read as its preview showed it: its columns, its encoding, how it writes amounts and dates,
    what it updates; never as remembered since (a file already checked is read as it was)."""
    written = Written.of(record.written)
    updates = tuple(record.updates or ())
    return open_table(kind, path, record.filename, record.mapping or {}, record.encoding, written, updates)


class MissingColumns(Unreadable):
    """A file whose header names no column for a required field: ``table`` is how it was read, for its admin to map
    one of its columns to the field."""

    def __init__(self, table: Table, missing: list[str], message: str) -> None:
        super().__init__(message)
        self.table, self.missing = table, missing


def unread(missing: MissingColumns) -> dict:
    """An import whose columns are to be mapped before its file is checked, as its row keeps it: no rows, its
    columns, and the fields no column is read into."""
    return {
        "rows_in_file": 0,
        "rows_good": 0,
        "rows_rejected": 0,
        "report": {"preview": {**columns_of(missing.table), "missing": missing.missing}},
    }


def check(kind: ImportKind, table: Table) -> Checked:
    """Check every row of the table; write nothing."""
    checked = Checked(kind, table)
    connection = db.session.connection()
    connection.exec_driver_sql(_KEYS)
    copying = connection.connection.driver_connection.cursor()
    rehearse = kind.rehearse() if kind.rehearse else None
    took_over = cut_over.day() if kind.history_of else None
    for batch in batches(kind, table, checked):
        with copying.copy("COPY import_keys (hash, ordinal, line) FROM STDIN") as copy:
            for ordinal, row, record in batch.read:
                copy.write_row((_hash(kind.key_of(record)), ordinal, row.line))
        _good(kind, batch, checked, rehearse, took_over)
    _refuse_repeated_keys(checked, connection)
    checked.rejected.sort(key=lambda rejection: rejection.line)
    _in_every_language(checked)
    return checked


def _good(kind: ImportKind, batch: Batch, checked: Checked, rehearse, took_over: date | None) -> list:
    """The batch's rows to write, as the check finds them (each other row counted unchanged, refused, or held for a
    clerk's confirmation), and what they move by hand and record as history counted on ``checked``."""
    good = _classify(kind, batch, checked)
    if rehearse and good:
        good = _rehearsed(rehearse, good, checked)
    if kind.doubtful and good:
        good = _held(kind, good, checked)
    if kind.history_of and took_over is not None:
        checked.history += sum(1 for _ordinal, _row, record in good if record[kind.history_of] <= took_over)
    checked.good += len(good)
    if kind.by_hand:
        for _ordinal, _row, record in good:
            amount = abs(record["amount"])
            checked.moved += amount
            checked.largest = max(checked.largest, amount)
            customer_id = record[kind.moved_for]
            checked.moved_for[customer_id] = checked.moved_for.get(customer_id, Decimal(0)) + amount
    return good


def _rehearsed(rehearse, good: list, checked: Checked) -> list:
    """The rows the write takes, found by its checks made without writing (``ImportKind.rehearse``), a chunk as the
    write takes them at a time: each row it refuses rejected in its words."""
    taken = []
    for start in range(0, len(good), CHUNK):
        chunk = good[start : start + CHUNK]
        refusals = rehearse([record for _ordinal, _row, record in chunk])
        for (ordinal, row, record), refusal in zip(chunk, refusals, strict=True):
            if refusal is None:
                taken.append((ordinal, row, record))
            else:
                reject(checked, row, None, str(refusal), ordinal)
    return taken


WAITING_VALUES = ("meter", "reading_date", "volume", "index", "rollover_digits", "start_index", "note")
"""What a row held for a confirmation keeps of what it gives."""


def _held(kind: ImportKind, good: list, checked: Checked) -> list:
    """The rows to write, those a clerk confirms first (:attr:`ImportKind.doubtful`) held on the import."""
    waits = kind.doubtful([record for _ordinal, _row, record in good])
    for at, (ordinal, row, record) in enumerate(good):
        if at in waits:
            values = {name: record.get(name) for name in WAITING_VALUES if name in record}
            checked.waiting.append(Waiting(row.line, values, waits[at]))
            checked.waiting_ordinals.add(ordinal)
    return [entry for at, entry in enumerate(good) if at not in waits]


def _repeated(kind: ImportKind, first_line: int) -> str:
    return _("The same %(key)s as line %(line)s.", key=kind.key_words(), line=first_line)


def _in_every_language(checked: Checked) -> None:
    """Say the first rejections in each language the pages speak, as a reader of that language reads them: the
    rejected rows read and looked up again, in each language (a few rows; a key met twice said from its lines)."""
    shown = checked.rejected[:SHOWN_REJECTIONS]
    for spoken in LANGUAGES:
        with force_locale(spoken):
            again = Checked(checked.kind, checked.table)
            batch = Batch()
            for ordinal, rejection in enumerate(shown):
                if (
                    rejection.first_line is None
                    and (record := read_row(checked.kind, rejection.row, again)) is not None
                ):
                    batch.read.append((ordinal, rejection.row, record))
            if batch.read:
                _classify(checked.kind, resolved(checked.kind, batch, again), again)
            found = {rejection.line: rejection.message for rejection in again.rejected}
            for rejection in shown:
                if rejection.first_line is not None:
                    rejection.said[spoken] = _repeated(checked.kind, rejection.first_line)
                else:
                    rejection.said[spoken] = found.get(rejection.line, rejection.message)


def _classify(kind: ImportKind, batch: Batch, checked: Checked) -> list[tuple[int, FileRow, Row]]:
    """The rows of the batch to write (a record that exists, to fill or change the fields the import updates: its
    ``CHANGES``); the others counted unchanged, or refused."""
    records = [record for _ordinal, _row, record in batch.read]
    stored = kind.stored(records)
    # What the rows refer to is looked up for the rows not stored yet: a stored one is unchanged, or a conflict.
    fresh = [position for position, record in enumerate(records) if kind.key_of(record) not in stored]
    updates = checked.table.updates
    refused = _new_without(kind, records, fresh) if updates else {}
    fresh = [position for position in fresh if position not in refused]
    refused |= {fresh[at]: why for at, why in kind.refers([records[position] for position in fresh]).items()}
    if updates:
        refused |= _updated(kind, records, stored, updates, refused)
    good = []
    for position, (ordinal, row, record) in enumerate(batch.read):
        if position in refused:
            column, message = refused[position]
            reject(checked, row, column, message, ordinal)
            continue
        found = stored.get(kind.key_of(record))
        if found is None:
            good.append((ordinal, row, record))
            continue
        differing = different(kind, record, found)
        if differing and set(differing) <= set(updates):
            record[CHANGES] = {name: (found.get(name), record[name]) for name in differing}
            checked.changes += [
                (row.line, kind.key_of(record), name, *change) for name, change in record[CHANGES].items()
            ]
            good.append((ordinal, row, record))
            continue
        if not differing:
            checked.unchanged += 1
            flags = checked.unchanged_ordinals
            flags.extend(bytes(max(0, ordinal + 1 - len(flags))))
            flags[ordinal] = 1
            continue
        name = differing[0]
        reject(
            checked,
            row,
            name,
            _(
                "%(key)s exists with other values: %(column)s is %(stored)s, the file says %(given)s.",
                key=" ".join(str(part) for part in kind.key_of(record)),
                column=kind.field(name).label,
                stored=shown_value(found.get(name)),
                given=shown_value(record.get(name)),
            ),
            ordinal,
        )
    return good


def _new_without(kind: ImportKind, records: list[Row], fresh: list[int]) -> dict:
    """The new records, of an import that updates what exists, missing a required field."""
    missing = {}
    for position in fresh:
        for spec in kind.fields:
            if spec.required and records[position].get(spec.name) in (None, ""):
                missing[position] = (spec.name, _("%(column)s is required.", column=spec.label))
                break
    return missing


def _updated(kind: ImportKind, records: list[Row], stored: dict, updates: tuple[str, ...], refused: dict) -> dict:
    """The records a row would update, checked as the update writes them: each as stored with the row's fields the
    import updates, by the rules of a new one (:attr:`ImportKind.refers`)."""
    changed = []
    for position, record in enumerate(records):
        found = stored.get(kind.key_of(record))
        if found is None or position in refused:
            continue
        given = {name: record[name] for name in updates if record.get(name) not in (None, "")}
        changed.append((position, found | given))
    found_refused = kind.refers([merged for _position, merged in changed]) if changed else {}
    return {changed[at][0]: why for at, why in found_refused.items()}


def _hash(key: tuple) -> int:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_KEYS = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS import_keys (hash bigint NOT NULL, ordinal integer NOT NULL, "
    "line integer NOT NULL) ON COMMIT DROP; TRUNCATE import_keys"
)
"""Each row's key, by an 8-byte hash, its ordinal and its line: kept by the database for the check's transaction, so
that finding a key met twice costs the check no memory however long the file (the check writes nothing else)."""

_REPEATED = """
SELECT ordinal, line, first_line FROM (
    SELECT ordinal, line, first_value(line) OVER (PARTITION BY hash ORDER BY ordinal) AS first_line,
           row_number() OVER (PARTITION BY hash ORDER BY ordinal) AS nth
    FROM import_keys
    WHERE hash IN (SELECT hash FROM import_keys GROUP BY hash HAVING count(*) > 1)
) keys WHERE nth > 1
"""


def _refuse_repeated_keys(checked: Checked, connection) -> None:
    """Refuse each row whose key a row above it has."""
    repeated = {
        ordinal: (line, first_line)
        for ordinal, line, first_line in connection.exec_driver_sql(_REPEATED)
        if ordinal not in checked.refused_ordinals
    }
    if not repeated:
        return
    wanted = dict(repeated.values())
    for row in checked.table.rows():
        if row.line in wanted:
            first = wanted[row.line]
            checked.rejected.append(Rejection(row.line, None, _repeated(checked.kind, first), row, first_line=first))
    for ordinal in repeated:
        checked.refused_ordinals.add(ordinal)
        if ordinal < len(checked.unchanged_ordinals) and checked.unchanged_ordinals[ordinal]:
            checked.unchanged -= 1
        else:
            checked.good -= 1


# Writing.


def write(record: Import, table: Table, user: User | None, left_out: frozenset[int] = frozenset()) -> Checked:
    """Check the file again a chunk at a time, each under the lock on the import's kind (a second import of the same
    file waits, then finds its rows stored), and write the chunk's good rows in the same transaction, which counts
    them on ``record``; returns what the check found, as :func:`check` finds it. A row refused now that was good when
    the file was checked stops the import (the installation changed meanwhile), unless it writes the valid rows
    alone; the rows ``left_out`` (by ordinal: refused when the file was checked just before) are not written."""
    kind = kind_of(record.kind)
    checked = Checked(kind, table)
    import_id = record.id
    by_hand = kind.by_hand and not approved(record)
    # Run again after it stopped, the rows it wrote before are unchanged now: they count as written, once.
    own = record.rows_written
    db.session.execute(update(Import).where(Import.id == import_id).values(rows_unchanged=0))
    db.session.commit()
    took_over = cut_over.day() if kind.history_of else None
    said = 0
    with acting(user.id if user else None, record.actor):
        for written, batch in enumerate(batches(kind, table, checked, CHUNK), 1):
            lines = [row.line for _ordinal, row, _record in batch.read]
            try:
                with one_unit():
                    db.session.execute(select(func.pg_advisory_xact_lock(advisory_key(f"import:{kind.name}", 8))))
                    unchanged = checked.unchanged
                    batch = Batch([entry for entry in _once_a_key(kind, batch, checked) if entry[0] not in left_out])
                    if kind.locks:
                        kind.locks([record_ for _ordinal, _row, record_ in batch.read])
                    # Valid rows alone: those the write would refuse are found by rehearsing it, and left out.
                    rehearse = kind.rehearse() if kind.rehearse and record.valid_only else None
                    good = _good(kind, batch, checked, rehearse, took_over)
                    if checked.rejected[said:] and not record.valid_only:
                        raise ChangedSinceChecked(checked.rejected[said])
                    said = len(checked.rejected)
                    if by_hand:
                        refuse_beyond_the_limit(kind, good, user)
                    own = _write_chunk(record, kind, good, checked.unchanged - unchanged, own, user)
                if written & (written - 1) == 0:  # the 1st, 2nd, 4th, 8th… chunk: what it wrote has doubled
                    _refresh_statistics()
            except IntegrityError as error:
                refusal = already_recorded(error)
                if refusal is None:
                    raise
                raise RefusedWhenWritten(lines, refusal) from None
            except ValueError as refusal:
                raise RefusedWhenWritten(lines, refusal) from None
            if delay := current_app.config["JOB_STEP_DELAY_SECONDS"]:
                time.sleep(delay)
    if checked.rejected[said:] and not record.valid_only:  # the file's last rows, refused as they were read
        raise ChangedSinceChecked(checked.rejected[said])
    _refresh_statistics()
    checked.rejected.sort(key=lambda rejection: rejection.line)
    _in_every_language(checked)
    return checked


def _once_a_key(kind: ImportKind, batch: Batch, checked: Checked) -> list:
    """The batch's rows, a row whose key a row above it in the batch has refused (one in an earlier chunk is found
    stored: unchanged, or a conflict)."""
    first: dict[tuple, int] = {}
    kept = []
    for ordinal, row, record in batch.read:
        line = first.setdefault(kind.key_of(record), row.line)
        if line == row.line:
            kept.append((ordinal, row, record))
        else:
            checked.rejected.append(Rejection(row.line, None, _repeated(kind, line), row, first_line=line))
            checked.refused_ordinals.add(ordinal)
    return kept


def _refresh_statistics() -> None:
    """The planner's statistics of the tables the write has filled since they were last analysed
    (:func:`~backoffice.platform.databases.analyze_due`): the next chunks, the report and the verify read them."""
    with one_unit():
        analyze_due(db.session.connection())


def _write_chunk(record: Import, kind: ImportKind, good: list, unchanged: int, own: int, user) -> int:
    """Write the chunk's good rows (a record that exists: the fields it changes), counting them and the rows found
    ``unchanged`` on the import; returns how many of the rows the import wrote before are still to be counted."""
    new = [row for _ordinal, _row, row in good if CHANGES not in row]
    if new:
        kind.write(new, user)
    if changed := [row for _ordinal, _row, row in good if CHANGES in row]:
        kind.update([(kind.key_of(row), {name: given for name, (_, given) in row[CHANGES].items()}) for row in changed])
    written_before = min(own, unchanged)
    db.session.execute(
        update(Import)
        .where(Import.id == record.id)
        .values(
            rows_written=Import.rows_written + len(good),
            rows_unchanged=Import.rows_unchanged + unchanged - written_before,
            version=Import.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return own - written_before


def to_map(kind: ImportKind, filename: str, path: Path, missing: MissingColumns, user: User | None) -> Import:
    """The import of a file whose required columns its admin is to map first: its row, its file kept, checked
    when they are mapped."""
    return _new(
        kind,
        filename,
        path,
        user,
        status=ImportStatus.CHECKED,
        mapping=used(missing.table),
        written=missing.table.written.kept(),
        **unread(missing),
    )


def started(
    kind: ImportKind,
    filename: str,
    path: Path,
    checked: Checked,
    user: User | None,
    valid_only: bool,
    encoding: str | None = None,
):
    """The import's row, with what checking found and how its columns were read, committed (the file at ``path``
    kept with it)."""
    return _new(
        kind,
        filename,
        path,
        user,
        status=ImportStatus.CHECKED,
        valid_only=valid_only,
        mapping=used(checked.table),
        written=checked.table.written.kept(),
        updates=list(checked.table.updates) or None,
        encoding=encoding,
        **found(checked),
    )


def _new(kind: ImportKind, filename: str, path: Path, user: User | None, **state) -> Import:
    """An import's row, committed, with its file kept."""
    sha256, size = keep_file(path)
    record = Import(
        kind=kind.name,
        filename=shown_name(filename),
        sha256=sha256,
        size_bytes=size,
        created_by_id=user.id if user else None,
        **state,
    )
    db.session.add(record)
    db.session.commit()
    return record


def found(checked: Checked) -> dict:
    """What checking found, as the import's row keeps it: its counts and its preview."""
    return {
        "rows_in_file": checked.rows,
        "rows_good": checked.good,
        "rows_rejected": len(checked.rejected),
        "report": {"preview": preview(checked)},
    }


# Running one import, from its row.


def run_import(import_id: int) -> None:
    """Write the import's good rows, the file checked again a chunk at a time as it is written, and keep its report:
    what a worker runs (or the command in its own process). Stopped halfway, it has written whole chunks; run again,
    it writes the rest."""
    record = db.session.get(Import, import_id)
    user = db.session.get(User, record.created_by_id) if record.created_by_id else None
    kind = kind_of(record.kind)
    _set(record, status=ImportStatus.RUNNING, started_at=utcnow(), error=None)
    try:
        with kept_file_at(record) as path:
            table = table_of(record, kind, path)
            left_out: frozenset[int] = frozenset()
            # Whether it waits for a second admin is decided on the whole file, before a row is written.
            if decided_whole(record, kind, table, user):
                checked = check(kind, table)
                db.session.rollback()  # the check's own table of keys
                if checked.rejected and not record.valid_only:
                    raise ChangedSinceChecked(checked.rejected[0])
                if (waiting := waits_for_approval(record, kind, checked, user)) is not None:
                    _set(
                        db.session.get(Import, import_id), status=ImportStatus.WAITING, error=waiting, finished_at=None
                    )
                    return
                left_out = frozenset(checked.refused_ordinals | checked.waiting_ordinals)
            checked = write(record, table, user, left_out)
            db.session.refresh(record)
            kept = report(record, checked, user)
    except (
        ChangedSinceChecked,
        RefusedWhenWritten,
        Unreadable,
        NeedsAsker,
        WaitsAlready,
        Declined,
        NotAsApproved,
    ) as refusal:
        db.session.rollback()
        _set(db.session.get(Import, import_id), status=ImportStatus.FAILED, error=str(refusal), finished_at=utcnow())
        return
    except BaseException as error:
        db.session.rollback()
        _set(
            db.session.get(Import, import_id),
            status=ImportStatus.FAILED,
            error=f"{type(error).__name__}: {error}",
            finished_at=utcnow(),
        )
        raise
    done = db.session.get(Import, import_id)
    _set(done, status=ImportStatus.DONE, report={**(done.report or {}), **kept}, finished_at=utcnow())


def _set(record: Import, **values) -> None:
    for name, value in values.items():
        setattr(record, name, value)
    db.session.commit()


def start(record: Import) -> Import:
    """Run the import: as a job when the queues are set up (its progress on its row), else here and now."""
    if not redis_url():
        run_import(record.id)
        return record
    _set(record, status=ImportStatus.QUEUED, job_id=_enqueued("run_import", record.id))
    return record


IN_REQUEST_ROWS = 1000
"""Without the queues (no ``REDIS_URL``), the most rows the Imports page writes in its request; with them, a file of
any size is checked by a job and written by another, its progress on its page."""


def checked_later(kind: ImportKind, filename: str, path: Path, table: Table, user: User | None) -> Import:
    """The import of a file too large to check while the admin waits: its row and its file kept, queued, and a job
    checking it (:func:`check_import`), whose preview the import's page shows once it is done."""
    record = _new(
        kind, filename, path, user, status=ImportStatus.QUEUED, mapping=used(table), written=table.written.kept()
    )
    _set(record, job_id=_enqueued("check_import", record.id))
    return record


def check_again(record: Import) -> Import:
    """Queue the check of an import whose columns or encoding its admin changed (its row already queued)."""
    _set(record, job_id=_enqueued("check_import", record.id))
    return record


def check_import(import_id: int) -> None:
    """Check the import's file whole and keep what it found, writing nothing else: a worker's job."""
    record = db.session.get(Import, import_id)
    kind = kind_of(record.kind)
    with kept_file_at(record) as path:
        checked = check(kind, table_of(record, kind, path))
    db.session.rollback()  # the check's own table of keys
    _set(db.session.get(Import, import_id), status=ImportStatus.CHECKED, **found(checked))


def _enqueued(function: str, import_id: int) -> str:
    # RQ where it is used, as the jobs' queues import it: a web process that starts no import does not load it.
    from rq import Callback

    job = queue(IMPORT_QUEUE).enqueue(
        f"backoffice.imports.running.{function}",
        import_id,
        job_timeout=IMPORT_TIMEOUT,
        on_failure=Callback("backoffice.imports.running.worker_stopped"),
        on_stopped=Callback("backoffice.imports.running.job_stopped"),
    )
    return job.id


IMPORT_QUEUE = "default"
IMPORT_TIMEOUT = 6 * 60 * 60


def worker_stopped(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback of an import's job: one whose worker stopped beating (its import's row still says it
    runs) is marked failed, to be imported again, which resumes it. An import that raised has said so itself."""
    from rq.exceptions import AbandonedJobError

    if exc_type is not None and issubclass(exc_type, AbandonedJobError):
        job_stopped(job, connection)


def job_stopped(job, connection) -> None:
    """RQ's stopped callback of an import's job: its import is marked failed, to be imported again."""
    (import_id,) = job.args
    db.session.execute(
        update(Import)
        .where(Import.id == import_id, Import.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]))
        .values(status=ImportStatus.FAILED, error=STOPPED, finished_at=utcnow(), version=Import.version + 1)
    )
    db.session.commit()


def has_run(record: Import) -> bool:
    return bool(record.report) and "rows" in record.report


def lost(record: Import) -> bool:
    """Queued or running, but its job is no longer on the queue: its worker stopped, or Redis lost it."""
    if record.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING) or not redis_url() or not record.job_id:
        return False
    return not _queued(record.job_id)


def failed(record: Import, message: str) -> None:
    _set(record, status=ImportStatus.FAILED, error=message, finished_at=utcnow())
