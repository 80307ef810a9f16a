// A virtual grid: only the rows in view exist in the DOM (a pool of ~50 elements), so a
// whole market of 5,000+ symbols scrolls and ticks smoothly. Rendering happens once per
// animation frame and only when something changed.

export class VirtualGrid {
  /**
   * @param {HTMLElement} root       an empty element the grid fills
   * @param {Array} columns           {key, label(), cell(record) -> [text, className], sortValue?(record)}
   * @param {(key: string) => object} recordOf  the record behind a row key
   * @param {object} handlers         {onRowClick(key), onSort(columnKey)}
   */
  constructor(root, columns, recordOf, handlers = {}) {
    this.root = root;
    this.columns = columns;
    this.recordOf = recordOf;
    this.handlers = handlers;
    this.rowHeight = 26;
    this.keys = [];
    this.pool = [];
    this.dirty = true;
    this.selected = null;
    this.sort = { key: null, descending: true };
    root.classList.add("vgrid");
    this.hiddenColumns = new Set();
    this._applyTemplate();
    this.head = document.createElement("div");
    this.head.className = "grid-head";
    root.appendChild(this.head);
    this.body = document.createElement("div");
    this.body.className = "grid-body";
    this.spacer = document.createElement("div");
    this.spacer.className = "grid-spacer";
    this.body.appendChild(this.spacer);
    root.appendChild(this.body);
    this.body.addEventListener("scroll", () => this.invalidate(), { passive: true });
    this.body.addEventListener("click", (event) => {
      const row = event.target.closest(".row");
      if (row && row.dataset.symbol && this.handlers.onRowClick) this.handlers.onRowClick(row.dataset.symbol, event);
    });
    new ResizeObserver(() => this.invalidate()).observe(this.body);
    this.renderHead();
    const frame = () => {
      if (this.dirty) this.render();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  _applyTemplate() {
    const shown = this.columns.filter((c) => !this.hiddenColumns.has(c.key));
    this.root.style.setProperty("--grid-columns", shown.map((c) => c.width || "1fr").join(" "));
  }

  /** Hide columns (by key), e.g. the less important ones while the detail pane takes room. */
  setHiddenColumns(keys) {
    this.hiddenColumns = new Set(keys);
    this._applyTemplate();
    for (const row of this.pool) {
      this.columns.forEach((column, c) => (row.cells[c].hidden = this.hiddenColumns.has(column.key)));
    }
    this.renderHead();
    this.invalidate();
  }

  renderHead() {
    this.head.replaceChildren();
    for (const column of this.columns) {
      if (this.hiddenColumns.has(column.key)) continue;
      const cell = document.createElement("div");
      cell.className = "cell" + (column.align === "left" ? " left" : "");
      cell.dataset.sort = column.key;
      let text = column.label();
      if (this.sort.key === column.key) text += this.sort.descending ? " ▼" : " ▲";
      cell.textContent = text;
      if (column.sortValue) {
        cell.classList.add("sortable");
        cell.addEventListener("click", () => this.handlers.onSort && this.handlers.onSort(column.key));
      }
      this.head.appendChild(cell);
    }
  }

  setKeys(keys) {
    this.keys = keys;
    this.root.dataset.rows = String(keys.length);
    this.spacer.style.height = keys.length * this.rowHeight + "px";
    this.invalidate();
  }

  invalidate() {
    this.dirty = true;
  }

  _row(index) {
    while (this.pool.length <= index) {
      const row = document.createElement("div");
      row.className = "row";
      row.cells = this.columns.map((column) => {
        const cell = document.createElement("div");
        cell.className = "cell";
        cell.dataset.field = column.key;
        cell.hidden = this.hiddenColumns.has(column.key);
        row.appendChild(cell);
        return cell;
      });
      this.spacer.appendChild(row);
      this.pool.push(row);
    }
    return this.pool[index];
  }

  render() {
    this.dirty = false;
    const height = this.body.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.body.scrollTop / this.rowHeight) - 4);
    const count = Math.min(this.keys.length - first, Math.ceil(height / this.rowHeight) + 8);
    for (let i = 0; i < Math.max(count, 0); i++) {
      const index = first + i;
      const key = this.keys[index];
      const row = this._row(i);
      row.hidden = false;
      row.style.transform = `translateY(${index * this.rowHeight}px)`;
      const same = row.dataset.symbol === key;
      if (!same) row.dataset.symbol = key;
      row.classList.toggle("selected", key === this.selected);
      const record = this.recordOf(key);
      this.columns.forEach((column, c) => {
        const [text, className] = column.cell(record);
        const cell = row.cells[c];
        if (cell.textContent !== text) {
          // a new price on the same row flashes red (up) or green (down), as brokers' boards do
          if (same && column.flash && cell.textContent) this._flash(cell, column.flash(record, cell.textContent, text));
          cell.textContent = text;
        }
        const cls = "cell " + (className || "") + (column.align === "left" ? " left" : "");
        if (cell.className !== cls) cell.className = cls;
      });
    }
    for (let i = Math.max(count, 0); i < this.pool.length; i++) {
      this.pool[i].hidden = true;
      delete this.pool[i].dataset.symbol;
    }
    this.root.dataset.rendered = String(Math.max(count, 0));
  }

  _flash(cell, direction) {
    if (!direction || !cell.animate) return;
    const color = direction > 0 ? "rgba(229, 72, 77, .45)" : "rgba(48, 164, 108, .45)";
    cell.animate([{ backgroundColor: color }, { backgroundColor: "transparent" }], { duration: 700, easing: "ease-out" });
  }

  scrollToIndex(index) {
    this.body.scrollTop = index * this.rowHeight;
    this.invalidate();
  }
}
