"""CSV and XLSX files of the dashboard's tables (the raw values, not the shown text).

CSV: UTF-8 with a byte-order mark (Excel opens it as UTF-8), comma-separated, one
header row; numbers with a dot, dates in ISO 8601, empty cells for "no value".
XLSX: one sheet per table, numbers as numbers (amounts, rates as percentages).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter

from web.analytics import Table


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.colonnes)
    for row in table.lignes:
        writer.writerow([_plain(cell.value) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(tables: list[Table]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "remove_timezone": True})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": '#,##0.00 "€"'})
    rate = book.add_format({"num_format": "0.0%"})
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    for table in tables:
        sheet = book.add_worksheet(table.key[:31])
        sheet.write_row(0, 0, table.colonnes, bold)
        for r, row in enumerate(table.lignes, start=1):
            for c, cell in enumerate(row):
                value = cell.value
                if isinstance(value, Decimal):
                    sheet.write_number(r, c, float(value), money)
                elif cell.kind == "percent" and isinstance(value, float):
                    sheet.write_number(r, c, value, rate)
                elif value is None:
                    sheet.write_blank(r, c, None)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    sheet.write_number(r, c, value)
                elif isinstance(value, datetime):
                    sheet.write_datetime(r, c, value.replace(tzinfo=None), day)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, datetime.combine(value, datetime.min.time()), day)
                else:
                    sheet.write_string(r, c, str(value))
        sheet.set_column(0, 0, 40)
        sheet.set_column(1, max(len(table.colonnes) - 1, 1), 18)
    book.close()
    return buffer.getvalue()
