// Numbers as the page shows them: durations, token counts, money.

const COUNT = new Intl.NumberFormat('en');

export function formatMs(ms) {
  return Math.round(ms) < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export const formatCount = (n) => COUNT.format(n);

// A cost as the server sends it, a decimal string ("0.00420000"): shown exactly, trailing zeros trimmed to two
// decimals; no float arithmetic, so what the page says is what was saved.
export function formatCost(cost) {
  const amount = typeof cost?.amount === 'string' ? cost.amount.trim() : '';
  if (!/^\d+(\.\d+)?$/.test(amount)) return '';
  const [whole, digits = ''] = amount.split('.');
  const fraction = digits.replace(/0+$/, '').padEnd(2, '0');
  const currency = typeof cost.currency === 'string' ? cost.currency : '';
  return currency === 'USD' || !currency ? `$${whole}.${fraction}` : `${whole}.${fraction} ${currency}`;
}

// A file's size in decimal units, as file browsers show it ("840 B", "12 kB", "4.5 MB").
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${Math.round(bytes / 1000)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
