// Labels (中文 / English) and the number formats of a Chinese broker's board.

export const PHASES = {
  pre_open: ["开盘前", "pre-open"],
  opening_auction: ["集合竞价", "opening auction"],
  pre_continuous: ["等待连续竞价", "pre-continuous"],
  continuous: ["连续竞价", "continuous"],
  lunch_break: ["午间休市", "lunch break"],
  closing_auction: ["收盘集合竞价", "closing auction"],
  closed: ["已收盘", "closed"],
  volatility_break: ["临时停牌(波动)", "volatility break"],
  halted: ["停牌", "halted"],
  intraday_auction: ["盘中集合竞价", "intraday auction"],
  suspended_to_close: ["停牌至收盘", "suspended to close"],
  after_hours_fixed_price: ["盘后固定价格", "after-hours fixed price"],
  unknown: ["未知", "unknown"],
};

const LABELS = {
  title: ["行情看板", "quote board"],
  code: ["代码", "Code"],
  name: ["名称", "Name"],
  last: ["最新", "Last"],
  change: ["涨跌", "Chg"],
  pct: ["涨跌幅", "Chg %"],
  open: ["今开", "Open"],
  high: ["最高", "High"],
  low: ["最低", "Low"],
  prev_close: ["昨收", "Prev close"],
  limits: ["涨停/跌停", "Limit up/down"],
  volume_lots: ["成交量(手)", "Volume (lots)"],
  volume_shares: ["成交量(股)", "Volume (shares)"],
  amount: ["成交额", "Amount"],
  bid1: ["买一", "Bid 1"],
  ask1: ["卖一", "Ask 1"],
  phase: ["状态", "Phase"],
  time: ["时间", "Time"],
  watchlist: ["自选", "Watchlist"],
  market_sh: ["沪市 *.SH", "Shanghai *.SH"],
  market_sz: ["深市 *.SZ", "Shenzhen *.SZ"],
  market_all: ["沪深京 全部", "All markets"],
  search: ["代码 / 名称 / 拼音首字母", "code / name / pinyin initials"],
  add: ["加自选", "Add"],
  remove: ["删自选", "Remove"],
  rows: ["行", "rows"],
  messages: ["条消息", "messages"],
  connected: ["已连接", "connected"],
  reconnecting: ["重连中…", "reconnecting…"],
  connecting: ["连接中…", "connecting…"],
  depth: ["盘口", "Order book"],
  levels: ["档", "levels"],
  bids: ["买", "Bid"],
  asks: ["卖", "Ask"],
  chart: ["K线", "Candles"],
  bars: ["根K线", "bars"],
  close: ["关闭", "Close"],
  unit_lots: ["手", "lots"],
  unit_shares: ["股", "shares"],
  no_match: ["无匹配", "no match"],
};

let lang = "zh";
export const setLang = (value) => {
  lang = value === "en" ? "en" : "zh";
};
export const getLang = () => lang;
export const t = (key) => (LABELS[key] ? LABELS[key][lang === "zh" ? 0 : 1] : key);
export const phaseName = (phase) => (PHASES[phase] ? PHASES[phase][lang === "zh" ? 0 : 1] : phase || "–");

export const price = (v) => (typeof v === "number" && v > 0 ? v.toFixed(2) : "–");
export const signed = (v, digits = 2) =>
  typeof v === "number" ? (v > 0 ? "+" : "") + v.toFixed(digits) : "–";
export const percent = (v) => (typeof v === "number" ? signed(v) + "%" : "–");

/** CNY in 万 / 亿 as a Chinese board shows it (English: K / M / B). */
export function money(v) {
  if (typeof v !== "number") return "–";
  if (lang === "en") {
    if (v >= 1e9) return (v / 1e9).toFixed(2) + "B";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + "K";
    return v.toFixed(0);
  }
  if (v >= 1e8) return (v / 1e8).toFixed(2) + "亿";
  if (v >= 1e4) return (v / 1e4).toFixed(2) + "万";
  return v.toFixed(0);
}

/** Volume in shares, shown in 手 (100 shares) or 股 as chosen; 万 / 亿 past 10^4. */
export function volume(v, unit) {
  if (typeof v !== "number") return "–";
  const n = unit === "lots" ? v / 100 : v;
  if (lang === "zh") {
    if (n >= 1e8) return (n / 1e8).toFixed(2) + "亿";
    if (n >= 1e4) return (n / 1e4).toFixed(2) + "万";
    return Math.round(n).toString();
  }
  return Math.round(n).toLocaleString("en-US");
}

/** The size beside a bid/ask price, in the chosen unit. */
export const size = (v, unit) =>
  typeof v === "number" ? Math.round(unit === "lots" ? v / 100 : v).toString() : "";

export const direction = (v) => (typeof v === "number" ? (v > 0 ? "up" : v < 0 ? "down" : "flat") : "flat");
