"""The readings import's benchmark builds an installation that its file imports into whole: every reading written,
priced and charged, and the verify at the import's end finds nothing wrong."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import make_url

from backoffice.imports.kinds import READINGS
from backoffice.models import Customer, Import, ImportStatus, MeterReading
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from bench import imports
from bench.common import as_the_app_writes, derive


def test_the_benchmarks_file_imports_whole_into_the_installation_it_builds(app, runner, tmp_path):
    meters, days = 3, 4
    first = local_today() - timedelta(days=days)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    imports.generate(url.render_as_string(hide_password=False), first, meters)
    derive(meters, imports.BATCH, [])
    as_the_app_writes(app)
    path = tmp_path / "readings.csv"
    imports.write_file(path, READINGS.template(), meters * days, first, meters)

    result = runner.invoke(args=["import", "readings", str(path)])

    assert result.exit_code == 0, (result.output, result.stderr)
    record = db.session.scalar(sa.select(Import))
    assert record.status == ImportStatus.DONE and record.rows_written == meters * days
    assert record.report["verify"]["mismatched"] == 0, record.report["verify"]
    volumes = db.session.scalars(
        sa.select(MeterReading.volume_flow_meter).order_by(MeterReading.reading_date, MeterReading.meter_id)
    ).all()
    assert volumes == [
        Decimal(tenths).scaleb(-1) for _meter, _day, tenths in imports.readings(meters * days, first, meters)
    ]
    assert all(customer.balance < imports.RECHARGE for customer in db.session.scalars(sa.select(Customer)))
