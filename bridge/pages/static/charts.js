// A small SVG line chart: no library, no network. drawLines(svg, legend, series, options)
// series: [{name, color, values: [number...]}], all of the same length (oldest first).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * exp) return step * exp;
  }
  return 10 * exp;
}

function formatNumber(value) {
  if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (value >= 1e4) return (value / 1e3).toFixed(0) + "k";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function drawLines(svg, legend, series, options) {
  const width = 600, height = 170, left = 44, right = 6, top = 8, bottom = 18;
  let longest = 0;
  for (const s of series) longest = Math.max(longest, s.values.length);
  const points = Math.min(300, Math.max(30, longest)); // fill the width once there is history
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  let max = 0;
  for (const s of series) for (const v of s.values) if (v > max) max = v;
  max = niceMax(max);
  for (let i = 0; i <= 4; i++) {
    const y = top + ((height - top - bottom) * i) / 4;
    svg.appendChild(svgEl("line", { x1: left, x2: width - right, y1: y, y2: y, class: "axis" }));
    const label = svgEl("text", { x: left - 4, y: y + 3, "text-anchor": "end" });
    label.textContent = formatNumber((max * (4 - i)) / 4);
    svg.appendChild(label);
  }
  const span = (options && options.spanLabel) || "";
  const caption = svgEl("text", { x: width - right, y: height - 4, "text-anchor": "end" });
  caption.textContent = span;
  svg.appendChild(caption);
  for (const s of series) {
    const values = s.values.slice(-points);
    const offset = points - values.length;
    const coords = values.map((v, i) => {
      const x = left + ((width - left - right) * (offset + i)) / (points - 1);
      const y = top + (height - top - bottom) * (1 - v / max);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    svg.appendChild(svgEl("polyline", {
      points: coords.join(" "),
      fill: "none",
      stroke: s.color,
      "stroke-width": 1.8,
      "stroke-linejoin": "round",
      "data-series": s.name,
    }));
  }
  if (legend) {
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    for (const s of series) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.appendChild(swatch);
      const last = s.values.length ? s.values[s.values.length - 1] : 0;
      item.appendChild(document.createTextNode(s.name + " " + formatNumber(last)));
      legend.appendChild(item);
    }
  }
}
