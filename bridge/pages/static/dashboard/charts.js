// Time-series charts on uPlot (vendored): a real time axis, a legend with the values under
// the cursor, a tooltip, drag to zoom (double-click resets).

const AXIS = { stroke: "#8593a3", grid: { stroke: "#222c37", width: 1 }, ticks: { stroke: "#2a3542", width: 1 } };

function tooltipPlugin(unit) {
  let tip;
  return {
    hooks: {
      init: (u) => {
        tip = document.createElement("div");
        tip.className = "tooltip";
        tip.hidden = true;
        u.over.appendChild(tip);
        u.over.addEventListener("mouseleave", () => (tip.hidden = true));
        u.over.addEventListener("mouseenter", () => (tip.hidden = false));
      },
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined) {
          tip.hidden = true;
          return;
        }
        tip.hidden = false;
        tip.replaceChildren();
        const when = document.createElement("b");
        when.textContent = new Date(u.data[0][i] * 1000).toLocaleTimeString("en-GB");
        tip.appendChild(when);
        u.series.forEach((s, k) => {
          if (k === 0 || !s.show) return;
          const line = document.createElement("div");
          const v = u.data[k][i];
          line.textContent = `${s.label}: ${v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 2 : 0)} ${unit}`;
          line.style.color = s._stroke || s.stroke;
          tip.appendChild(line);
        });
        const left = Math.min(u.cursor.left + 12, u.over.clientWidth - tip.offsetWidth - 4);
        tip.style.left = `${Math.max(0, left)}px`;
        tip.style.top = `${Math.max(0, u.cursor.top - tip.offsetHeight - 8)}px`;
      },
    },
  };
}

export class TimeChart {
  /** @param {HTMLElement} box  @param {Array<{label, stroke}>} series  @param {string} unit */
  constructor(box, series, unit) {
    this.box = box;
    const width = () => Math.max(300, box.clientWidth);
    this.plot = new uPlot(
      {
        width: width(),
        height: 200,
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          // 24-hour wall-clock time on the x axis (the labels are canvas text: kept for tests too)
          {
            ...AXIS,
            values: (u, splits) => {
              const labels = splits.map((s) => new Date(s * 1000).toLocaleTimeString("en-GB"));
              box.dataset.timeAxis = labels.join(" ");
              return labels;
            },
          },
          { ...AXIS, size: 56, label: unit, labelSize: 14 },
        ],
        series: [
          { label: "time", value: (u, v) => (v == null ? "–" : new Date(v * 1000).toLocaleTimeString("en-GB")) },
          ...series.map((s) => ({ ...s, width: 1.5, points: { show: false } })),
        ],
        plugins: [tooltipPlugin(unit)],
      },
      [[], ...series.map(() => [])],
      box,
    );
    new ResizeObserver(() => this.plot.setSize({ width: width(), height: 200 })).observe(box);
  }

  /** x: epoch seconds; columns: one array per series. */
  setData(x, columns) {
    this.plot.setData([x, ...columns]);
    this.box.dataset.points = String(x.length);
  }
}
