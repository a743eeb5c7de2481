/**
 * A bad value as an error quotes it: its JSON, at most `max` characters of it, then how long it was. A value
 * refused for its form may be megabytes (a body, a path): the sentence stays short.
 */
export function quoted(value: unknown, max = 80): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}
