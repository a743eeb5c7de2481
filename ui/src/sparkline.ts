/**
 * The points of a small line chart of recent values (a tunnel's throughput) in an SVG `polyline` of
 * `width` × `height`: the first value at the left edge, the last at the right, the largest 1 px below the
 * top, zero 1 px above the bottom. One value is a flat line at its level across the chart (a single point
 * draws nothing); no value, no point.
 */
export function sparkPoints(values: readonly number[], width: number, height: number): string {
  const v = values.length === 1 ? [values[0], values[0]] : values;
  const max = Math.max(1, ...v);
  return v.map((x, i) =>
    `${(i / Math.max(1, v.length - 1)) * width},${height - (x / max) * (height - 2) - 1}`
  )
    .join(" ");
}
