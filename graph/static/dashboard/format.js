// Numbers as the graph sends them: decimal strings, shown exactly (digits grouped, never
// through a float), and a few derived ratios that are only for the eye.

/** "1234567.5" -> "1,234,567.5"; null/undefined -> "–". */
export function decimal(value) {
  if (value === null || value === undefined || value === "") return "–";
  const text = String(value);
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = ""] = match;
  return `${sign}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${fraction}`;
}

/** A decimal string rounded for display to `places` (exact value kept in data-value). */
export function rounded(value, places = 2) {
  if (value === null || value === undefined || value === "") return "–";
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  return decimal(String(Number(number.toFixed(places))));
}

/** A ratio as a percentage: 0.0125 -> "1.25 %". */
export function percent(ratio, places = 2) {
  if (ratio === null || ratio === undefined || !Number.isFinite(Number(ratio))) return "–";
  return `${(Number(ratio) * 100).toFixed(places)} %`;
}

/** How far the mark may move before the position is liquidated, as a share of the mark. */
export function liquidationDistance(position) {
  const mark = Number(position.markPrice);
  const liquidation = position.liquidationPrice === null ? NaN : Number(position.liquidationPrice);
  if (!(mark > 0) || !Number.isFinite(liquidation)) return null;
  const long = Number(position.quantity) > 0;
  return long ? (mark - liquidation) / mark : (liquidation - mark) / mark;
}

/** "acc_01M9859CG1J08TE6Z7FB3V9G3Q" -> "acc_…9G3Q" for narrow cells (full id in title). */
export function shortId(id) {
  if (!id) return "–";
  const text = String(id);
  const cut = text.indexOf("_");
  return text.length > 14 ? `${text.slice(0, cut + 1)}…${text.slice(-6)}` : text;
}

/** An ISO time as HH:MM:SS local. */
export function clock(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? String(iso) : at.toLocaleTimeString([], { hour12: false });
}

/** Time until an ISO instant: "7h 59m", "12 s". */
export function until(iso, now = Date.now()) {
  if (!iso) return "–";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  if (!Number.isFinite(seconds)) return "–";
  if (seconds <= 0) return "due";
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 120 ? `${minutes} min` : `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}
