"""Excel 97-2003 .xls workbooks: site lists in (read with python-calamine)."""

from siting.formats import Format

FORMAT = Format(
    id="xls",
    title="Excel 97-2003 workbook: a site list in",
    extensions=(".xls",),
    media_type="application/vnd.ms-excel",
    reads="table",
)
