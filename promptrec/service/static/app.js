// promptrec's page: plain JavaScript over the service's JSON API (no build step, no dependencies).
//
//   GET  items?q=&n=          search the catalog (an empty query lists it)
//   POST recommendations      {history: [ids], feedback: [{item, label}], query, n}: a session, no stored user
//
// The page keeps "my history" and "my reactions" in the browser (localStorage) and sends them with every
// request; the service holds no state for it. URLs are relative, so the page works behind a path prefix.
"use strict";

(function () {
  const STORE = "promptrec.page.v1";
  const $ = (id) => document.getElementById(id);
  const saved = (() => {
    try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { return {}; }
  })();
  const state = {
    history: Array.isArray(saved.history) ? saved.history : [],     // [{id, title, meta}]
    feedback: Array.isArray(saved.feedback) ? saved.feedback : [],  // [{item, title, label}]
    query: typeof saved.query === "string" ? saved.query : "",
    key: typeof saved.key === "string" ? saved.key : "",
    n: Number(saved.n) || 10,
  };
  let recSeq = 0;      // only the latest recommendation answer is drawn
  let searchSeq = 0;   // only the latest search answer is drawn

  function persist() {
    try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode: keep in memory */ }
  }

  // ---- talking to the service -------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.key) headers["X-API-Key"] = state.key;
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { /* an empty or non-JSON body */ }
    if (!response.ok) {
      if (response.status === 401) throw new Error("This service needs an API key: open Settings.");
      throw new Error(errorText(data) || `${response.status} ${response.statusText}`);
    }
    return data;
  }

  function errorText(data) {
    if (!data) return "";
    const detail = data.detail !== undefined ? data.detail : data.error;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return detail ? JSON.stringify(detail) : "";
  }

  // Accept either a bare list or an object holding it ({items: [...]}, {results: [...]}, ...).
  function listOf(data) {
    if (Array.isArray(data)) return data;
    if (data && typeof data === "object") {
      for (const key of ["items", "results", "recommendations"]) if (Array.isArray(data[key])) return data[key];
    }
    return [];
  }

  // An item as the API sends it: {id, title, attributes: {...}} (or the attributes inline, or under item).
  function itemOf(entry) {
    const inner = entry && entry.item && typeof entry.item === "object" ? entry.item : entry;
    const attributes = inner.attributes || {};
    return { id: String(inner.id), title: String(inner.title || inner.id), meta: metaText(Object.assign({}, inner, attributes)) };
  }

  function metaText(fields) {
    const parts = [];
    if (fields.year) parts.push(String(fields.year));
    const genres = fields.genres || fields.categories || fields.genre;
    if (Array.isArray(genres)) parts.push(genres.join(", "));
    else if (typeof genres === "string") parts.push(genres.replace(/\|/g, ", "));
    if (!parts.length && fields.author) parts.push(String(fields.author));
    return parts.join(" · ");
  }

  // How the pipeline's cold-start fallbacks read to a person (Ranking.fallback).
  const FALLBACKS = { popularity: "what is popular", diverse: "a varied sample of the catalog" };

  // The stage scores of one recommended entry: its "stages" (or "scores") object, else its *_score fields.
  const STAGES = [["retrieval", "retrieval"], ["feedback", "feedback"], ["llm", "LLM"], ["fused", "fused"]];
  function scoresOf(entry) {
    const out = {};
    const nested = entry.stages || entry.scores;
    const source = nested && typeof nested === "object" ? nested : entry;
    for (const [key] of STAGES) {
      const value = source[key] !== undefined ? source[key] : source[key + "_score"];
      if (typeof value === "number" && isFinite(value)) out[key] = value;
    }
    return out;
  }

  // ---- search -----------------------------------------------------------------------------------------
  async function search(text) {
    const seq = ++searchSeq;
    const results = $("results");
    try {
      const data = await api("GET", `items?q=${encodeURIComponent(text)}&n=8`);
      if (seq !== searchSeq) return;
      const items = listOf(data).map(itemOf);
      results.replaceChildren(...(items.length ? items.map(resultRow) : [hint(text ? `Nothing matches “${text}”.` : "The catalog is empty.")]));
      results.dataset.query = text;  // what the drawn results answer
    } catch (error) {
      if (seq !== searchSeq) return;
      results.replaceChildren(hint(error.message, true));
    }
  }

  function resultRow(item) {
    const li = el("li", { className: "result", dataset: { testid: "result", id: item.id } });
    const text = el("div");
    text.append(el("div", { className: "title", textContent: item.title }));
    if (item.meta) text.append(el("div", { className: "meta", textContent: item.meta }));
    const chosen = state.history.some((h) => h.id === item.id);
    const add = el("button", {
      className: "add", type: "button", textContent: chosen ? "Added" : "+ Add", disabled: chosen,
      dataset: { testid: "add" }, ariaLabel: `Add ${item.title} to my history`,
    });
    add.addEventListener("click", () => {
      if (state.history.some((h) => h.id === item.id)) return;
      state.history.push(item);
      add.textContent = "Added";
      add.disabled = true;
      changed();
    });
    li.append(text, add);
    return li;
  }

  // ---- history and reactions --------------------------------------------------------------------------
  function drawHistory() {
    $("history-count").textContent = state.history.length;
    $("history").replaceChildren(...(state.history.length
      ? state.history.map((item) => chip(item.title, "", () => {
        state.history = state.history.filter((h) => h.id !== item.id);
        markResult(item.id, false);
        changed();
      }, `Remove ${item.title} from my history`))
      : [el("li", { className: "empty", textContent: "Nothing yet. Add items from the search above." })]));
  }

  function drawFeedback() {
    $("feedback-count").textContent = state.feedback.length;
    $("feedback").replaceChildren(...(state.feedback.length
      ? state.feedback.map((f) => chip(`${f.label === "liked" ? "Liked" : "Disliked"}: ${f.title}`, f.label, () => {
        state.feedback = state.feedback.filter((g) => g.item !== f.item);
        changed();
      }, `Undo my reaction to ${f.title}`))
      : [el("li", { className: "empty", textContent: "Like or dislike a recommendation and the list adapts." })]));
  }

  function chip(text, kind, onRemove, label) {
    const li = el("li", { className: `chip ${kind}`.trim(), dataset: { testid: "chip" } });
    const remove = el("button", { type: "button", textContent: "×", ariaLabel: label, title: label });
    remove.addEventListener("click", onRemove);
    li.append(el("span", { textContent: text }), remove);
    return li;
  }

  function markResult(id, chosen) {
    for (const row of document.querySelectorAll(`#results [data-id="${CSS.escape(id)}"] .add`)) {
      row.textContent = chosen ? "Added" : "+ Add";
      row.disabled = chosen;
    }
  }

  function react(item, label) {
    state.feedback = state.feedback.filter((f) => f.item !== item.id);
    state.feedback.push({ item: item.id, title: item.title, label });
    changed();
  }

  // ---- recommendations --------------------------------------------------------------------------------
  async function recommend() {
    const seq = ++recSeq;
    const status = $("status");
    status.className = "status";
    status.textContent = "Updating…";
    for (const card of document.querySelectorAll("#recs .rec")) card.classList.add("busy");
    const body = {
      history: state.history.map((h) => h.id),
      feedback: state.feedback.map((f) => ({ item: f.item, label: f.label })),
      n: state.n,
    };
    if (state.query.trim()) body.query = state.query.trim();
    try {
      const data = await api("POST", "recommendations", body);
      if (seq !== recSeq) return;
      drawRecs(data);
      status.textContent = "";
      $("recs").dataset.answer = String(seq);  // which request the drawn list answers (tests wait on it)
    } catch (error) {
      if (seq !== recSeq) return;
      for (const card of document.querySelectorAll("#recs .rec")) card.classList.remove("busy");
      status.className = "status error";
      status.textContent = /not in the catalog/.test(error.message)  // picks saved from another catalog
        ? `${error.message} (Settings, Start over: clears your picks)` : error.message;
    }
  }

  function drawRecs(data) {
    const entries = listOf(data);
    const fallback = data && !Array.isArray(data) ? data.fallback : null;
    const note = $("fallback");
    note.hidden = !fallback;
    const how = FALLBACKS[fallback] || `the ${fallback} fallback`;
    note.textContent = fallback ? `Nothing to go on yet, so this is ${how}. Add a few items you like.` : "";
    // each stage's bar is relative to the highest score of that stage in this list
    const scored = entries.map(scoresOf);
    const top = {};
    for (const [key] of STAGES) {
      const values = scored.map((s) => s[key]).filter((v) => v !== undefined);
      if (values.length) top[key] = [Math.min(...values), Math.max(...values)];
    }
    $("recs").replaceChildren(...(entries.length
      ? entries.map((entry, index) => recCard(entry, index, scored[index], top))
      : [hint("No recommendations: the catalog has nothing left to suggest.")]));
  }

  function recCard(entry, index, scores, top) {
    const item = itemOf(entry);
    const li = el("li", { className: "rec", dataset: { testid: "rec", id: item.id } });
    li.append(el("span", { className: "rank", textContent: String(entry.rank || index + 1) }));
    const text = el("div", { className: "main" });
    text.append(el("div", { className: "title", textContent: item.title }));
    if (item.meta) text.append(el("div", { className: "meta", textContent: item.meta }));
    const actions = el("div", { className: "actions" });
    for (const [label, name, verb] of [["liked", "like", "Like"], ["disliked", "dislike", "Dislike"]]) {
      const button = el("button", {
        className: `act ${name}`, type: "button", title: `${verb} ${item.title}`,
        ariaLabel: `${verb} ${item.title}`, dataset: { testid: name },
      });
      button.append(thumb(), el("span", { className: "act-text", textContent: verb }));
      button.addEventListener("click", () => react(item, label));
      actions.append(button);
    }
    li.append(text, actions);
    if (entry.reason) li.append(el("div", { className: "reason", textContent: entry.reason }));
    const row = el("div", { className: "scores" });
    for (const [key, name] of STAGES) {
      if (scores[key] === undefined) continue;
      const score = el("span", { className: "score", title: `${name} score ${scores[key]}` });
      if (key === "feedback") {  // a signed adjustment: its sign says more than a bar
        const sign = scores[key] > 0 ? "up" : scores[key] < 0 ? "down" : "";
        score.append(el("span", { textContent: name }),
          el("span", { className: `value delta ${sign}`.trim(), textContent: (scores[key] > 0 ? "+" : "") + format(scores[key]) }));
      } else {  // a bar relative to the highest score of that stage in this list
        const [low, high] = top[key];
        const share = high > low ? (scores[key] - low) / (high - low) : 1;
        const bar = el("span", { className: "bar" });
        bar.append(el("i", { style: `width:${Math.round(8 + 92 * share)}%` }));
        score.append(el("span", { textContent: name }), bar, el("span", { className: "value", textContent: format(scores[key]) }));
      }
      row.append(score);
    }
    if (row.childElementCount) li.append(row);
    return li;
  }

  function format(value) {
    if (Object.is(value, -0)) value = 0;
    const abs = Math.abs(value);
    return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
  }

  // ---- helpers ----------------------------------------------------------------------------------------
  function el(tag, props = {}) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") node.setAttribute("style", value);
      else if (key === "ariaLabel") node.setAttribute("aria-label", value);
      else node[key] = value;
    }
    return node;
  }

  // A thumbs-up outline (the dislike button flips it with CSS); inline, so no icon font or file is needed.
  function thumb() {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.innerHTML = '<rect x="2.5" y="10" width="4.5" height="11" rx="1"/>' +
      '<path d="M7 10l4-8c1.7 0 3 1.3 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.3 8A2 2 0 0 1 18.2 21H7"/>';
    return svg;
  }

  function hint(text, error) {
    return el("li", { className: error ? "hint status error" : "hint", textContent: text });
  }

  function changed() {
    persist();
    drawHistory();
    drawFeedback();
    recommend();
  }

  function debounce(fn, ms) {
    let timer = 0;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  // ---- wiring -----------------------------------------------------------------------------------------
  function start() {
    const box = $("search");
    const later = debounce(() => search(box.value.trim()), 200);
    box.addEventListener("input", later);
    $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search(box.value.trim()); });
    const query = $("query");
    query.value = state.query;
    query.addEventListener("input", debounce(() => { state.query = query.value; persist(); recommend(); }, 400));
    const key = $("api-key");
    key.value = state.key;
    key.addEventListener("change", () => { state.key = key.value.trim(); persist(); search(box.value.trim()); recommend(); });
    const count = $("count");
    count.value = String(state.n);
    count.addEventListener("change", () => { state.n = Number(count.value) || 10; persist(); recommend(); });
    $("reset").addEventListener("click", () => {
      state.history = []; state.feedback = []; state.query = ""; query.value = "";
      for (const button of document.querySelectorAll("#results .add")) { button.textContent = "+ Add"; button.disabled = false; }
      changed();
    });
    drawHistory();
    drawFeedback();
    search("");
    recommend();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
