// The report's sample browser: filters by source, verdict, flag and pass rate over the embedded
// samples, 20 to a page. Filter state lives in the URL's hash, so a filtered view is a link.
// Sample text is only ever set as textContent: nothing from the data becomes markup.
(function () {
  "use strict";
  const rows = JSON.parse(document.getElementById("sample-data").textContent);
  const info = JSON.parse(document.getElementById("sample-info").textContent);
  const PAGE = 20;
  const ALL = "(all)";
  const passBucket = (r) => r.pass_rate === null || r.pass_rate === undefined ? "not scored"
    : r.pass_rate === 0 ? "0 (hard)" : r.pass_rate === 1 ? "1 (easy)" : "between 0 and 1";
  const filters = {
    source: { el: "f-source", of: (r) => [r.source] },
    verdict: { el: "f-verdict", of: (r) => [r.verdict || "none"] },
    flag: { el: "f-flag", of: (r) => (r.flags.length ? r.flags : ["no flags"]) },
    pass: { el: "f-pass", of: (r) => [passBucket(r)], fixed: ["0 (hard)", "between 0 and 1", "1 (easy)", "not scored"] },
  };
  let page = 0;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function state() {
    const params = new URLSearchParams(location.hash.slice(1));
    const out = {};
    for (const key of Object.keys(filters)) out[key] = params.get(key) || ALL;
    return out;
  }

  function setState(next) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(next)) if (value !== ALL) params.set(key, value);
    const hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    page = 0;
    render();
  }

  function fillSelects() {
    for (const [key, f] of Object.entries(filters)) {
      const counts = new Map((f.fixed || []).map((v) => [v, 0]));  // fixed buckets are offered even when empty
      for (const r of rows) for (const v of f.of(r)) counts.set(v, (counts.get(v) || 0) + 1);
      const select = document.getElementById(f.el);
      select.appendChild(new Option(ALL, ALL));
      const values = f.fixed ? [...counts] : [...counts].sort((a, b) => b[1] - a[1]);
      for (const [v, n] of values) select.appendChild(new Option(`${v} (${n})`, v));
      select.addEventListener("change", () => setState({ ...state(), [key]: select.value }));
    }
  }

  function field(card, label, value) {
    const line = el("div", null, "field");
    line.appendChild(el("b", label));
    line.appendChild(document.createTextNode(value === null || value === undefined || value === "" ? "—" : String(value)));
    card.appendChild(line);
  }

  function sampleCard(r) {
    const card = el("div", null, "card");
    card.dataset.id = r.id;
    const head = el("div", null, "head");
    head.appendChild(el("code", r.id));
    head.appendChild(el("span", r.source, "badge"));
    if (r.domain) head.appendChild(el("span", r.domain, "badge"));
    head.appendChild(el("span", r.verdict ? `${r.verdict} (by ${r.verdict_by || "?"})` : "no verdict",
                        "badge v-" + (r.verdict || "none")));
    head.appendChild(el("span", r.pass_rate === null || r.pass_rate === undefined ? "pass rate —"
                                 : `pass rate ${Number(r.pass_rate).toFixed(2)}`, "badge"));
    for (const f of r.flags) head.appendChild(el("span", f, "flag"));
    card.appendChild(head);
    if (r.images.length || r.more_images) {
      const thumbs = el("div", null, "thumbs");
      r.images.forEach((uri, i) => {
        if (uri) {
          const img = el("img");
          img.src = uri;
          img.alt = `image ${i + 1} of sample ${r.id}`;
          thumbs.appendChild(img);
        } else {
          thumbs.appendChild(el("span", `image ${i + 1} could not be decoded`, "none"));
        }
      });
      if (r.more_images) thumbs.appendChild(el("span", `+${r.more_images} more image(s)`, "none"));
      card.appendChild(thumbs);
    }
    card.appendChild(el("div", r.question, "q"));
    if (r.options.length) {
      const list = el("ol");
      list.type = "A";
      for (const o of r.options) list.appendChild(el("li", o));
      card.appendChild(list);
    }
    field(card, "reference answer", r.answer);
    field(card, "predicted answer", r.pred_answer);
    if (r.think) {
      const details = el("details");
      details.appendChild(el("summary", `reasoning (${r.think.split(/\s+/).filter(Boolean).length} words)`));
      details.appendChild(el("pre", r.think));
      card.appendChild(details);
    }
    if (r.answer_text) card.appendChild(el("pre", r.answer_text));
    else if (!r.has_response) card.appendChild(el("p", "no response", "none"));
    if (r.caption) {
      const details = el("details");
      details.appendChild(el("summary", "caption"));
      details.appendChild(el("pre", r.caption));
      card.appendChild(details);
    }
    return card;
  }

  function render() {
    const want = state();
    for (const [key, f] of Object.entries(filters)) document.getElementById(f.el).value = want[key];
    const match = rows.filter((r) => Object.entries(filters).every(([key, f]) => want[key] === ALL || f.of(r).includes(want[key])));
    const pages = Math.max(1, Math.ceil(match.length / PAGE));
    page = Math.min(page, pages - 1);
    const box = document.getElementById("samples");
    box.replaceChildren(...match.slice(page * PAGE, (page + 1) * PAGE).map(sampleCard));
    if (!match.length) box.appendChild(el("p", "none: no shown sample matches these filters", "none"));
    document.getElementById("f-count").textContent = `${match.length} of ${rows.length} shown samples match`;
    document.getElementById("page").textContent = ` page ${page + 1} of ${pages} `;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }

  document.getElementById("sample-note").textContent = info.shown < info.total
    ? `Showing a seeded sample of ${info.shown} of ${info.total} samples (seed ${info.seed}; every source, verdict ` +
      `and flag first, then at random); filters apply within it. finereason report --samples N --seed S shows others.`
    : `All ${info.total} samples.`;
  document.getElementById("prev").addEventListener("click", () => { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
  window.addEventListener("hashchange", () => { page = 0; render(); });
  fillSelects();
  render();
})();
