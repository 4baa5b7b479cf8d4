/** `300 KiB`, `1.5 MiB`; the web page passes `formatNumber` to write digits in the reader's locale. */
export function formatBytes(bytes: number, formatNumber: (value: number, fractionDigits: number) => string = (value, digits) => value.toFixed(digits)): string {
  if (bytes < 1024) return `${formatNumber(bytes, 0)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${formatNumber(value, value < 10 ? 1 : 0)} ${units[unit]}`;
}
