"""CSV that Excel with Dutch settings opens correctly on a double-click.

Dutch Excel expects `;` between fields (the comma is its decimal separator), reads UTF-8 only with a byte-order mark,
and wants a decimal comma. Rates are written as fractions with the same digits as the JSON (0.382 → 0,382), seconds
as whole numbers, dates as ISO (which Excel recognises as a date). A text cell that starts like a formula is
prefixed with an apostrophe so a source name such as "=HYPERLINK(…)" stays text.
"""

import csv
import datetime as dt
from decimal import Decimal

from django.http import HttpResponse

from .tables import DATE, Column, cell_value

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def excel_cell(value, kind: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        text = repr(value) if isinstance(value, float) else f"{value.normalize():f}"
        return text.removesuffix(".0").replace(".", ",")
    if isinstance(value, dt.datetime | dt.date) or kind == DATE:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(*, filename: str, columns: list[Column], rows: list) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # the BOM: without it Excel reads UTF-8 as Windows-1252 (ë → Ã«)
    writer = csv.writer(response, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([str(c.label) for c in columns])
    for row in rows:
        writer.writerow([excel_cell(cell_value(row, c), c.kind) for c in columns])
    return response
