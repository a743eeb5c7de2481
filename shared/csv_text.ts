/**
 * The text of CSV files people open in a spreadsheet. Files the hub and the console offer for download
 * begin with UTF-8's byte order mark (`UTF8_BOM`): Excel, opening a CSV by a double click, reads it as
 * UTF-8 only then (without it, as the computer's legacy code page: Müller became MÃ¼ller, 山田 mojibake).
 */

/** U+FEFF, which UTF-8 writes EF BB BF: the first character of every CSV file offered for download. */
export const UTF8_BOM = "\uFEFF";
