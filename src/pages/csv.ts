/**
 * RFC 4180, safe to open in a spreadsheet (OWASP's CSV injection advice): a formula
 * character at the start of the cell, or after a `;` or tab (where spreadsheets in many
 * locales split cells), gets a leading ' so it is text; and a cell holding a separator of
 * any locale (`,` `;` tab) or a line break is quoted, so nothing splits it.
 */
const cell = (v: unknown) => {
  const s = (v === null || v === undefined ? '' : String(v)).replace(/(^|[;\t])([=+\-@\t\r])/g, "$1'$2");
  return /[",;\t\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** A CSV file of `rows`, with a header line of `columns`. */
export function csv<K extends string>(columns: readonly K[], rows: ReadonlyArray<{ [k in K]: unknown }>): string {
  return `${[columns.join(','), ...rows.map((r) => columns.map((k) => cell(r[k])).join(','))].join('\r\n')}\r\n`;
}

/** A CSV download's headers. */
export const csvHeaders = (filename: string) => ({
  'content-type': 'text/csv; charset=utf-8',
  'content-disposition': `attachment; filename="${filename}"`,
});
