"""OpenDocument spreadsheets (.ods, LibreOffice / WPS): site lists in."""

from siting.formats import Format

FORMAT = Format(
    id="ods",
    title="OpenDocument spreadsheet: a site list in",
    extensions=(".ods",),
    media_type="application/vnd.oasis.opendocument.spreadsheet",
    reads="table",
)
