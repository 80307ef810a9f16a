// The search box: autocomplete over code, name and pinyin initials through REST /v1/symbols
// (the engine behind UNKNOWN_SYMBOL suggestions); arrows, Enter and Escape work.

import { t } from "./format.js";

export class SymbolSearch {
  /**
   * @param {HTMLInputElement} input
   * @param {HTMLElement} list        the suggestion list (a <ul>)
   * @param {object} options          {api, headers(), isWatched(symbol), onFound(infos), onChoose(info), onError(err)}
   */
  constructor(input, list, options) {
    this.input = input;
    this.list = list;
    this.options = options;
    this.found = [];
    this.active = 0;
    this.timer = null;
    input.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run().catch(options.onError), 120);
    });
    input.addEventListener("keydown", (event) => this._key(event));
    input.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
  }

  _key(event) {
    const n = this.found.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : -1) + n) % Math.max(n, 1);
      this.render();
      event.preventDefault();
    } else if (event.key === "Enter" && this.found[this.active]) {
      this.choose(this.found[this.active]);
    } else if (event.key === "Escape") {
      this.list.hidden = true;
    }
  }

  async run() {
    const text = this.input.value.trim();
    if (!text) {
      this.found = [];
      this.render();
      return;
    }
    const url = `${this.options.api}v1/symbols?q=${encodeURIComponent(text)}&limit=10`;
    const response = await fetch(url, { headers: this.options.headers() });
    if (text !== this.input.value.trim()) return; // typed on meanwhile
    this.found = response.ok ? (await response.json()).items : [];
    this.options.onFound(this.found);
    this.active = 0;
    this.render();
  }

  render() {
    const { list } = this;
    list.replaceChildren();
    const typed = this.input.value.trim();
    list.hidden = this.found.length === 0 && !typed;
    if (this.found.length === 0 && typed) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = t("no_match");
      list.appendChild(li);
    }
    this.found.forEach((info, i) => {
      const li = document.createElement("li");
      li.dataset.symbol = info.symbol;
      li.className = i === this.active ? "active" : "";
      for (const [tag, cls, text] of [
        ["span", "mono", info.symbol],
        ["b", "", info.name],
        ["span", "muted", this.options.isWatched(info.symbol) ? "★" : "+"],
      ]) {
        const el = document.createElement(tag);
        el.className = cls;
        el.textContent = text;
        li.appendChild(el);
      }
      li.addEventListener("mousedown", (event) => {
        event.preventDefault();
        this.choose(info);
      });
      list.appendChild(li);
    });
  }

  choose(info) {
    this.input.value = "";
    this.found = [];
    this.render();
    this.list.hidden = true;
    this.options.onChoose(info);
  }
}
