/** RFC 4180; a cell that a spreadsheet would run as a formula is quoted with a leading '. */
const cell = (v: unknown) => {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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
